"""Command line: --check-config, --version, --help, and refusing to start on a bad config."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from sidecar_harness import SIDECAR_BIN, EXAMPLE_CONFIG


def run(*args, timeout=10):
    if not os.path.exists(SIDECAR_BIN):
        raise unittest.SkipTest("sse-sidecar binary not found at %s" % SIDECAR_BIN)
    return subprocess.run([SIDECAR_BIN, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sse-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def example_with(self, after_line_starting, inserted):
        """config.example.yaml with `inserted` added after the first line starting with
        `after_line_starting`; returns (path, 1-based number of the inserted line)."""
        with open(EXAMPLE_CONFIG) as f:
            lines = f.read().split("\n")
        index = next(i for i, l in enumerate(lines) if l.startswith(after_line_starting))
        lines.insert(index + 1, inserted)
        return self.write("config.yaml", "\n".join(lines)), index + 2

    def test_example_config_is_valid(self):
        result = run("--check-config", EXAMPLE_CONFIG)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("valid", result.stdout)
        self.assertEqual(result.stderr, "")

    def test_unknown_key_in_section(self):
        path, line = self.example_with("limits:", "  max_conections: 5")
        result = run("--check-config", path)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("%s:%d:3:" % (path, line), result.stderr)
        self.assertIn("max_conections", result.stderr)
        # Exactly one problem, and nothing claims the file is valid.
        self.assertEqual(len(re.findall(r"^%s:\d+:\d+:" % re.escape(path), result.stderr,
                                        re.M)), 1, result.stderr)
        self.assertNotIn("valid", result.stdout)

    def test_unknown_top_level_key(self):
        path, line = self.example_with("workers:", "wrokers: 3")
        result = run("--check-config", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn("%s:%d:1:" % (path, line), result.stderr)
        self.assertIn("wrokers", result.stderr)

    def test_bad_values_name_their_lines(self):
        text = ("workers: many\n"            # line 1
                "limits:\n"
                "  request_timeout: 10\n"    # line 3: no unit
                "  max_event_bytes: 1TiB\n"  # line 4
                "stream:\n"
                "  allow_patterns: maybe\n"  # line 6
                "publish:\n"
                "  tokens: [\"short\"]\n")   # line 8
        path = self.write("bad.yaml", text)
        result = run("--check-config", path)
        self.assertEqual(result.returncode, 2)
        for line in (1, 3, 4, 6, 8):
            self.assertRegex(result.stderr, r"(?m)^%s:%d:\d+: " % (re.escape(path), line))

    def test_yaml_syntax_error(self):
        path = self.write("broken.yaml", "listen:\n  sse: \"unterminated\nworkers: 2\n")
        result = run("--check-config", path)
        self.assertEqual(result.returncode, 2)
        self.assertRegex(result.stderr, r"%s:\d+:\d+: " % re.escape(path))

    def test_empty_file_is_valid(self):
        path = self.write("empty.yaml", "")
        result = run("--check-config", path)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_missing_file(self):
        path = os.path.join(self.tmp, "nope.yaml")
        result = run("--check-config", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn(path, result.stderr)

    def test_daemon_refuses_to_start_on_bad_config(self):
        path, line = self.example_with("limits:", "  bogus: 1")
        result = run("--config", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn("%s:%d:3:" % (path, line), result.stderr)

    def test_version(self):
        for flag in ("--version", "-v"):
            result = run(flag)
            self.assertEqual(result.returncode, 0)
            self.assertRegex(result.stdout, r"^sse-sidecar \d+\.\d+\.\d+")

    def test_help(self):
        for flag in ("--help", "-h"):
            result = run(flag)
            self.assertEqual(result.returncode, 0)
            self.assertIn("Usage", result.stdout)
            self.assertIn("--check-config", result.stdout)

    def test_unknown_argument(self):
        result = run("--frobnicate")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--frobnicate", result.stderr)


if __name__ == "__main__":
    unittest.main()
