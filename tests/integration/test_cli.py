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

    def check_fails_with(self, path, *problems):
        """--check-config on `path` exits 2 printing exactly `problems`, one line each."""
        result = run("--check-config", path)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertEqual(result.stderr, "".join(p + "\n" for p in problems))
        self.assertEqual(result.stdout, "")

    def jwt_config(self, key_file, algorithm="HS256"):
        """A config whose one JWT key names `key_file` on line 5, its value at column 15."""
        return self.write("jwt.yaml", "access:\n"
                                      "  jwt:\n"
                                      "    keys:\n"
                                      "      - algorithm: %s\n"
                                      "        file: %s\n" % (algorithm, key_file))

    def test_short_hs256_key_file_points_at_the_line_naming_it(self):
        key = self.write("hs256.key", "too-short")
        path = self.jwt_config(key)
        self.check_fails_with(
            path, "%s:5:15: 'access.jwt.keys[0].file': %s: HS256 needs a secret of at least 32 "
                  "bytes (got 9)" % (path, key))
        # The daemon refuses to start with the same words.
        result = run("--config", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn("%s:5:15: 'access.jwt.keys[0].file'" % path, result.stderr)

    def test_public_key_file_that_is_no_key_points_at_its_line(self):
        key = self.write("rs256.pem", "not a PEM file\n")
        path = self.jwt_config(key, "RS256")
        self.check_fails_with(
            path, "%s:5:15: 'access.jwt.keys[0].file': %s: RS256 needs a PEM public key: no "
                  "\"BEGIN PUBLIC KEY\" or \"BEGIN CERTIFICATE\" block could be read" % (path, key))

    def test_missing_key_file_is_one_problem(self):
        key = os.path.join(self.tmp, "absent.key")
        path = self.jwt_config(key)
        self.check_fails_with(
            path, "%s:5:15: 'access.jwt.keys[0].file': cannot read %s: No such file or "
                  "directory" % (path, key))

    def test_unclosed_bracket_points_at_the_bracket(self):
        path = self.write("bracket.yaml", 'access:\n'
                                          '  public_topics: ["public.*",\n'
                                          '    "news.*"\n'
                                          'cors:\n'
                                          '  allow_origins: ["https://app.example"]\n')
        self.check_fails_with(
            path, "%s:2:18: this '[' is never closed (expected ']' before line 4, column 1)"
                  % path)

    def test_unclosed_brace_points_at_the_brace(self):
        path = self.write("brace.yaml", 'listen: {sse: "127.0.0.1:7700",\n'
                                        '  admin: "127.0.0.1:7701"\n'
                                        'workers: 2\n')
        self.check_fails_with(
            path, "%s:1:9: this '{' is never closed (expected '}' before line 3, column 1)"
                  % path)

    def test_unclosed_quote_points_at_the_quote(self):
        # The next quote in the file closes it, and the parser fails a line later.
        path = self.write("quote.yaml", 'access:\n'
                                        '  cookie: "session\n'
                                        '  public_topics: ["public.*"]\n'
                                        'workers: 2\n')
        self.check_fails_with(
            path, "%s:2:11: this quoted value goes on to line 3 and the file does not parse "
                  "after it (end of map not found at line 3, column 20): is its closing quote "
                  "missing?" % path)
        # No quote after it: without the check, the rest of the file would silently become
        # the cookie's name.
        path = self.write("quote.yaml", 'access:\n'
                                        '  cookie: "session\n'
                                        '  public_topics: [public.*]\n'
                                        'workers: 2\n')
        self.check_fails_with(
            path, "%s:2:11: the quoted value starting here is never closed (it runs to the end "
                  "of the file)" % path)

    def test_text_yaml_would_not_read_is_refused(self):
        # yaml-cpp reads the first document only; without the check the second would be ignored.
        path = self.write("two.yaml", "workers: 1\n---\naccess:\n  public_topics: []\n")
        self.check_fails_with(
            path, "%s:2:1: a second YAML document starts here; the configuration is one document"
                  % path)
        # A stray ',' made yaml-cpp take the whole file as empty, so it passed as all defaults.
        path = self.write("comma.yaml", "# settings\n, workers: 1\n")
        self.check_fails_with(
            path, "%s:2:1: unexpected ',': YAML reads nothing from here on" % path)

    def test_key_set_twice(self):
        path, line = self.example_with("workers:", "workers: 2")
        with open(EXAMPLE_CONFIG) as f:
            first = next(i for i, l in enumerate(f.read().split("\n"), 1)
                         if l.startswith("workers:"))
        self.check_fails_with(
            path, "%s:%d:1: 'workers' is set twice (first on line %d)" % (path, line, first))

    def test_wrong_value_is_not_also_reported_as_missing(self):
        path = self.write("tokens.yaml", "publish:\n"
                                         "  tokens:\n"
                                         "    - token: [not, a, string]\n"
                                         "  socket_mode: [1]\n")
        self.check_fails_with(
            path,
            "%s:3:14: 'publish.tokens[0].token' must be a string" % path,
            "%s:4:16: 'publish.socket_mode' must be a string" % path)

    def test_directory_as_config_or_secret_file(self):
        self.check_fails_with(self.tmp, "%s: cannot read file: Is a directory" % self.tmp)
        path = self.write("secret.yaml", "publish:\n  hmac_secret_file: %s\n" % self.tmp)
        self.check_fails_with(
            path, "%s:2:21: 'publish.hmac_secret_file': cannot read %s: Is a directory"
                  % (path, self.tmp))

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
