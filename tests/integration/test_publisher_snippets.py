"""Publisher snippets: every snippet of docs/publishing.md, found by the HTML comment
`<!-- snippet: NAME -->` right before its fenced block, is written to a file exactly as the
page prints it and run by the language's interpreter from Debian against a real sidecar, with
SSE_SIDECAR_SOCKET (or, for curl, SSE_SIDECAR_URL) pointing at the test's. A driver of a few
lines per language calls the snippet's publish function with the arguments

    MODE TIMEOUT TOPIC EVENT DATA KEY

(MODE "replies" or "none", TIMEOUT in seconds, "" for no EVENT or no KEY) and prints the id it
returns; a refusal exits 1 and a failure to reach the sidecar exits 2, each with the reason on
stderr. The Java snippet is its own driver (`java Publish.java`, which takes the same arguments
without MODE and TIMEOUT: `--no-replies` for "none", and its 5 s timeout).

The sidecar sends no replies unless a connection asks for them (publish.socket_replies: none),
so a publisher that reads replies must ask. Each language is checked for: the id printed is the
id of the event a real stream receives, with the topic, event name and data sent (non-ASCII
text, quotes, a backslash, a tab and a newline in the data); the same key again gets the same id
and makes no second event; a refused event is an error carrying the sidecar's reason; the
fire-and-forget variant's event arrives; and a sidecar that answers nothing (stopped with
SIGSTOP) is an error rather than a hang, with two connections left in its accept queue (ss(8)
counts them: the line, then its retry), after which, once it runs again, the two made one event.

An interpreter that is missing fails its tests (scripts/setup --test installs them all).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from sidecar_harness import (EXAMPLE_CONFIG, REPO_ROOT, TOKEN, SidecarTestCase, parse_id,
                             wait_until)

PUBLISHING_MD = os.path.join(REPO_ROOT, "docs", "publishing.md")
SOCKET_UNIT = os.path.join(REPO_ROOT, "packaging", "debian", "sse-sidecar.socket")
MARKER_RE = re.compile(r"^<!-- snippet: ([\w-]+) -->$", re.M)

# Interpreters from Debian's packages first (/usr/bin), then whatever else PATH has.
SEARCH_PATH = os.pathsep.join(["/usr/bin", "/bin", os.environ.get("PATH", os.defpath)])

TOPIC = "public.snippets"
# What a JSON encoder must get right: non-ASCII text, quotes, a backslash, a tab, a newline.
DATA = 'h\u00e9llo w\u00f6rld \u2713 "quoted" back\\slash\ttab\nsecond line'
BAD_TOPIC = "public.bad topic"
# Generous: a subprocess that has not ended by then hangs (the JVM compiles the snippet first).
RUN_TIMEOUT = 120
# The publishers' reply timeout when the sidecar is stopped (Java's is fixed at 5 s).
STALL_TIMEOUT = "1"


def marked_snippets():
    """{name: code} for every `<!-- snippet: NAME -->` followed by a fenced block."""
    with open(PUBLISHING_MD, encoding="utf-8") as f:
        text = f.read()
    snippets = {}
    for m in MARKER_RE.finditer(text):
        fence = re.match(r"\n```[\w-]*\n(.*?)^```$", text[m.end():], re.M | re.S)
        if fence is None:
            raise AssertionError("docs/publishing.md: the marker %r is not followed by a "
                                 "fenced code block" % m.group(0))
        if m.group(1) in snippets:
            raise AssertionError("docs/publishing.md marks two snippets %r" % m.group(1))
        snippets[m.group(1)] = fence.group(1)
    return snippets


def doc_snippet(name):
    snippets = marked_snippets()
    if name not in snippets:
        raise AssertionError("docs/publishing.md has no snippet marked <!-- snippet: %s --> "
                             "(the marker, then its fenced code block)" % name)
    return snippets[name]


def write(directory, name, text):
    with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------
# The drivers: how each language's snippet is called


PYTHON_DRIVER = r"""import sys
from sidecar_publisher import Publisher, PublishError

mode, timeout, topic, event, data, key = sys.argv[1:]
try:
    with Publisher(timeout=float(timeout), replies=mode == "replies") as sidecar:
        event_id = sidecar.publish(topic, data, event=event or None, idempotency_key=key or None)
except PublishError as e:
    sys.exit("refused: %s" % e)
except OSError as e:
    print("failed: %s" % e, file=sys.stderr)
    sys.exit(2)
if event_id is not None:
    print(event_id)
"""

PHP_DRIVER = r"""<?php
require __DIR__ . '/sidecar_publisher.php';

[, $mode, $timeout, $topic, $event, $data, $key] = $argv;
$sidecar = new SidecarPublisher(null, (float) $timeout, $mode === 'replies');
try {
    $id = $sidecar->publish($topic, $data, $event === '' ? null : $event,
                            $key === '' ? null : $key);
} catch (SidecarRefused $e) {
    fwrite(STDERR, "refused: {$e->getMessage()}\n");
    exit(1);
} catch (RuntimeException $e) {
    fwrite(STDERR, "failed: {$e->getMessage()}\n");
    exit(2);
} finally {
    $sidecar->close();
}
if ($id !== null) {
    echo $id, "\n";
}
"""

RUBY_DRIVER = r"""require_relative "sidecar_publisher"

mode, timeout, topic, event, data, key = ARGV
sidecar = SidecarPublisher.new(timeout: Float(timeout), replies: mode == "replies")
begin
  id = sidecar.publish(topic, data, event: (event unless event.empty?),
                       idempotency_key: (key unless key.empty?))
rescue SidecarPublisher::Refused => e
  warn "refused: #{e.message}"
  exit 1
rescue IOError, SystemCallError => e
  warn "failed: #{e.message}"
  exit 2
ensure
  sidecar.close
end
puts id if id
"""

NODE_DRIVER = r"""const { Publisher, PublishError } = require('./sidecar-publisher.js');

const [mode, timeout, topic, event, data, key] = process.argv.slice(2);
const sidecar = new Publisher({ timeout: Number(timeout) * 1000, replies: mode === 'replies' });
sidecar.publish(topic, data, { event: event || undefined, idempotencyKey: key || undefined })
  .then((id) => {
    if (id !== null) console.log(id);
  }, (err) => {
    const refused = err instanceof PublishError;
    console.error(`${refused ? 'refused' : 'failed'}: ${err.message}`);
    process.exitCode = refused ? 1 : 2;
  })
  .finally(() => sidecar.close());
"""

SOCAT_DRIVER = r""". ./sidecar-publish.sh
mode=$1
shift 2  # the timeout is in SSE_SIDECAR_TIMEOUT
if [ "$mode" = replies ]; then
  sse_publish "$@"
else
  jq -cn --arg topic "$1" --arg event "$2" --arg data "$3" \
    '{topic: $topic, data: $data} + (if $event == "" then {} else {event: $event} end)' |
    sse_stream
fi
"""

CURL_DRIVER = r""". ./sidecar-publish-http.sh
shift 2  # the timeout is in SSE_SIDECAR_TIMEOUT
sse_publish_http "$@"
"""


class Language:
    """How one language's snippet is written out and run."""

    def __init__(self, name, programs, files, command, fire_and_forget=True):
        self.name = name                  # the snippet's marker
        self.programs = programs          # (executable, Debian package) that must be installed
        self.files = files                # {file name: text, or None for the snippet}
        self.command = command            # (paths, args) -> argv
        self.fire_and_forget = fire_and_forget


def _java_command(paths, args):
    mode, _timeout, topic, event, data, key = args
    flag = [] if mode == "replies" else ["--no-replies"]
    return [paths["java"], "Publish.java"] + flag + [topic, event, data, key]


LANGUAGES = {
    "php": Language("php", [("php", "php-cli")],
                    {"sidecar_publisher.php": None, "driver.php": PHP_DRIVER},
                    lambda paths, args: [paths["php"], "driver.php"] + args),
    "python": Language("python", [("python3", "python3")],
                       {"sidecar_publisher.py": None, "driver.py": PYTHON_DRIVER},
                       lambda paths, args: [paths["python3"], "driver.py"] + args),
    "ruby": Language("ruby", [("ruby", "ruby")],
                     {"sidecar_publisher.rb": None, "driver.rb": RUBY_DRIVER},
                     lambda paths, args: [paths["ruby"], "driver.rb"] + args),
    "node": Language("node", [("node", "nodejs")],
                     {"sidecar-publisher.js": None, "driver.js": NODE_DRIVER},
                     lambda paths, args: [paths["node"], "driver.js"] + args),
    # `java FILE.java` needs the compiler, which only the JDK has.
    "java": Language("java", [("java", "default-jdk-headless"),
                              ("javac", "default-jdk-headless")],
                     {"Publish.java": None}, _java_command),
    "socat": Language("socat", [("sh", "dash"), ("socat", "socat"), ("jq", "jq")],
                      {"sidecar-publish.sh": None, "driver.sh": SOCAT_DRIVER},
                      lambda paths, args: [paths["sh"], "driver.sh"] + args),
    "curl": Language("curl", [("sh", "dash"), ("curl", "curl"), ("jq", "jq")],
                     {"sidecar-publish-http.sh": None, "driver.sh": CURL_DRIVER},
                     lambda paths, args: [paths["sh"], "driver.sh"] + args,
                     fire_and_forget=False),
}


# ---------------------------------------------------------------------------------------------
# The page itself


class PublishingPageTest(unittest.TestCase):
    def test_every_marked_snippet_is_run_here(self):
        self.assertEqual(sorted(marked_snippets()), sorted(LANGUAGES),
                         "the snippets marked in docs/publishing.md and those this test runs")

    def test_socket_snippets_default_to_the_packaged_socket(self):
        """The default path each socket snippet falls back to is the example config's
        publish.socket and the socket unit's ListenStream, and SSE_SIDECAR_SOCKET overrides it
        (which the tests below rely on)."""
        with open(EXAMPLE_CONFIG, encoding="utf-8") as f:
            configured = re.search(r"^publish:\n(?:\s.*\n)*?\s+socket:\s*(\S+)", f.read(), re.M)
        with open(SOCKET_UNIT, encoding="utf-8") as f:
            unit = re.search(r"^ListenStream=(\S+)", f.read(), re.M)
        self.assertIsNotNone(configured, "config.example.yaml: no publish.socket")
        self.assertIsNotNone(unit, "sse-sidecar.socket: no ListenStream=")
        self.assertEqual(configured.group(1), unit.group(1))
        for name in LANGUAGES:
            if name == "curl":
                continue
            with self.subTest(snippet=name):
                code = doc_snippet(name)
                self.assertIn(configured.group(1), code)
                self.assertIn("SSE_SIDECAR_SOCKET", code)


# ---------------------------------------------------------------------------------------------
# Each snippet, run


class SnippetChecks:
    """Mixed into one TestCase per language."""

    language = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.paths = {}
        for program, package in cls.language.programs:
            path = shutil.which(program, path=SEARCH_PATH)
            if path is None:
                raise AssertionError("%s is not installed, which the %s snippet needs: "
                                     "scripts/setup --test installs it (package %s)"
                                     % (program, cls.language.name, package))
            cls.paths[program] = path

    def setUp(self):
        self.snippet = doc_snippet(self.language.name)
        # No replies unless a connection asks for them: a publisher that reads replies must say
        # so with {"replies":"all"}, or it never gets one.
        self.sidecar = self.start_sidecar({"publish": {"socket_replies": "none"}})
        self.events = self.stream(self.sidecar, [TOPIC])
        self.harness_publisher = self.publisher(self.sidecar)
        self.harness_publisher.send({"replies": "all"})
        self.assertEqual(self.harness_publisher.read_reply(), {"ok": True, "replies": "all"})

    # -- running --

    def run_snippet(self, mode, topic, event, data, key, timeout="5"):
        """Runs the driver in a fresh directory holding the snippet as the page prints it;
        returns the CompletedProcess (text)."""
        workdir = tempfile.mkdtemp(prefix="sse-snippet-%s-" % self.language.name, dir="/tmp")
        self.addCleanup(shutil.rmtree, workdir, True)
        for name, text in self.language.files.items():
            write(workdir, name, self.snippet if text is None else text)
        sc = self.sidecar
        env = dict(os.environ, LC_ALL="C.UTF-8", SSE_SIDECAR_SOCKET=sc.socket_path,
                   SSE_SIDECAR_URL="http://127.0.0.1:%d" % sc.admin_port,
                   SSE_SIDECAR_TOKEN=TOKEN, SSE_SIDECAR_TIMEOUT=timeout)
        command = self.language.command(self.paths, [mode, timeout, topic, event, data, key])
        try:
            return subprocess.run(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, encoding="utf-8",
                                  timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("the %s snippet did not end within %ds: it hangs"
                      % (self.language.name, RUN_TIMEOUT))

    def describe(self, result):
        return "exit %s\n--- stdout ---\n%s--- stderr ---\n%s" % (
            result.returncode, result.stdout, result.stderr)

    def publish_id(self, *args, **kwargs):
        """Runs the snippet with replies; returns the one id it printed."""
        result = self.run_snippet("replies", *args, **kwargs)
        self.assertEqual(result.returncode, 0, self.describe(result))
        printed = result.stdout.strip()
        parse_id(printed)
        self.assertEqual(result.stdout, printed + "\n", self.describe(result))
        return printed

    def accept_queue(self):
        """Connections waiting for the (stopped) sidecar to accept them, on the listener the
        snippet publishes to: a listening socket's Recv-Q, as ss(8) shows it."""
        if self.language.name == "curl":
            command = ["ss", "-tlnH", "src", "127.0.0.1:%d" % self.sidecar.admin_port]
        else:
            command = ["ss", "-xlnH", "src", self.sidecar.socket_path]
        ss = shutil.which("ss", path=SEARCH_PATH + os.pathsep + "/sbin:/usr/sbin")
        self.assertIsNotNone(ss, "ss is not installed: scripts/setup --test installs iproute2")
        output = subprocess.run([ss] + command[1:], capture_output=True, text=True,
                                timeout=30).stdout.split()
        # [Netid] State Recv-Q Send-Q ...: the Netid column only when several kinds are listed.
        self.assertIn("LISTEN", output, "%s printed %r" % (command, output))
        return int(output[output.index("LISTEN") + 1])

    def assertNextEvents(self, expected):
        """The stream's next events, as (event, id, data), are `expected`: then, by a marker the
        test publishes itself, that no other came before it."""
        marker = self.harness_publisher.publish_ok(TOPIC, "marker")["id"]
        got = [(e.event, e.id, e.data) for e in self.events.read_events(len(expected) + 1)]
        self.assertEqual(got, list(expected) + [("message", marker, "marker")])

    # -- tests --

    def test_publish_prints_the_id_of_the_event_streamed(self):
        first = self.publish_id(TOPIC, "update", DATA, "snippet-order-17")
        again = self.publish_id(TOPIC, "update", DATA, "snippet-order-17")
        self.assertEqual(again, first, "the same idempotency key must get the first id")
        unnamed = self.publish_id(TOPIC, "", "no name", "")
        self.assertNextEvents([("update", first, DATA), ("message", unnamed, "no name")])

    def test_a_refused_event_is_an_error_with_the_reason(self):
        reason = self.harness_publisher.publish(BAD_TOPIC, "x")
        self.assertFalse(reason["ok"], reason)
        result = self.run_snippet("replies", BAD_TOPIC, "update", "x", "")
        self.assertEqual(result.returncode, 1, self.describe(result))
        self.assertIn(reason["error"], result.stderr, self.describe(result))
        self.assertEqual(result.stdout, "", self.describe(result))
        self.assertNextEvents([])

    def test_a_stopped_sidecar_is_an_error_and_the_retry_is_harmless(self):
        """SIGSTOP: connections wait in the sidecar's backlog and nothing answers. The publisher
        gives up with an error after its timeout, having sent its line twice (the second time on
        a new connection); once the sidecar runs again it reads both, and the key makes one
        event of them."""
        pid = self.sidecar.proc.pid
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(os.kill, pid, signal.SIGCONT)  # before the sidecar is stopped
        result = self.run_snippet("replies", TOPIC, "update", DATA, "snippet-stall-1",
                                  timeout=STALL_TIMEOUT)
        queued = self.accept_queue()
        os.kill(pid, signal.SIGCONT)
        self.assertEqual(result.returncode, 2, self.describe(result))
        self.assertEqual(result.stdout, "", self.describe(result))
        self.assertEqual(queued, 2, "connections the publisher made: one, then one to retry")
        # Every line the publisher sent has been read once its connections were accepted and
        # are gone again (the test's own publisher stays).
        wait_until(lambda: self.accept_queue() == 0
                   and self.sidecar.metric("sse_publisher_connections") == 1,
                   timeout=10, message="the publisher's connections handled")
        first = self.events.next_event(timeout=10)
        self.assertEqual((first.event, first.data), ("update", DATA))
        self.assertNextEvents([])
        again = self.harness_publisher.publish_ok(TOPIC, DATA, event="update",
                                                  idempotency_key="snippet-stall-1")
        self.assertEqual(again["id"], first.id)
        self.assertTrue(again.get("duplicate"), again)


class FireAndForgetChecks:
    """For the languages with a fire-and-forget variant (all but curl)."""

    def test_fire_and_forget_event_arrives(self):
        result = self.run_snippet("none", TOPIC, "tick", DATA, "")
        self.assertEqual(result.returncode, 0, self.describe(result))
        self.assertEqual(result.stdout, "", self.describe(result))
        event = self.events.next_event(timeout=10)
        self.assertEqual((event.event, event.data), ("tick", DATA))
        self.assertNextEvents([])


def _test_case(name):
    language = LANGUAGES[name]
    extra = (FireAndForgetChecks,) if language.fire_and_forget else ()
    return type("%sSnippetTest" % name.capitalize(), extra + (SnippetChecks, SidecarTestCase),
                {"language": language})


PhpSnippetTest = _test_case("php")
PythonSnippetTest = _test_case("python")
RubySnippetTest = _test_case("ruby")
NodeSnippetTest = _test_case("node")
JavaSnippetTest = _test_case("java")
SocatSnippetTest = _test_case("socat")
CurlSnippetTest = _test_case("curl")


if __name__ == "__main__":
    unittest.main()
