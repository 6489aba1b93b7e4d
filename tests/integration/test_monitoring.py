"""The shipped monitoring files (packaging/monitoring): the Prometheus alerting rules pass
`promtool check rules` and their unit tests (`promtool test rules`), the Grafana dashboard is
well-formed and every expression in it parses, and every metric (and label value) the rules
and the dashboard name is one a real running sidecar exports: an in-memory one with presence
and its webhook configured, and one on a real Redis for the sse_engine_* families.

Needs promtool (Debian's `prometheus` package; `scripts/setup --test` installs it) and
PyYAML (`python3-yaml`); the tests that need them are skipped without them.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from redis_harness import RedisTestCase
from sidecar_harness import REPO_ROOT, SidecarTestCase, free_port
from test_tls import Certificates

try:
    import yaml
except ImportError:  # the checks that read YAML skip
    yaml = None

MONITORING = os.path.join(REPO_ROOT, "packaging", "monitoring")
RULES = os.path.join(MONITORING, "sse-sidecar-alerts.yml")
RULES_TEST = os.path.join(MONITORING, "alerts-test.yml")
DASHBOARD = os.path.join(MONITORING, "sse-sidecar-dashboard.json")
PROMTOOL = shutil.which("promtool")

# Series Prometheus makes itself for every target, not found in /metrics.
PROMETHEUS_SERIES = {"up"}
# Labels Prometheus adds to every series of a target.
TARGET_LABELS = {"job", "instance"}
SEVERITIES = {"critical", "warning"}
# What `promtool check metrics` says of names that are part of the product's interface as they
# are (renaming one breaks the dashboards and alerts built on it).
LINT_KNOWN = {
    'sse_engine_round_trip_microseconds use base unit "seconds" instead of "microseconds"',
}


def need_promtool(test):
    return unittest.skipUnless(PROMTOOL, "promtool is not installed (scripts/setup --test "
                                         "installs Debian's prometheus package)")(test)


def need_yaml(test):
    return unittest.skipUnless(yaml, "PyYAML is not installed (python3-yaml)")(test)


def promtool(*args, cwd=None):
    """(exit status, output) of promtool."""
    proc = subprocess.run([PROMTOOL] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# What a PromQL expression names


# Words of PromQL that are not metric names: binary and set operators, modifiers, and the
# aggregation operators (which may be followed by `by (...)` rather than a parenthesis).
PROMQL_WORDS = {
    "and", "or", "unless", "bool", "offset", "inf", "nan",
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
GROUPING_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
MATCHER_RE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _matchers(expr, start):
    """The label matchers of the `{...}` at `start`: ([(label, op, value)], index after it)."""
    close = start + 1
    found = []
    while True:
        while close < len(expr) and expr[close] in " \t\n,":
            close += 1
        if close >= len(expr):
            raise ValueError("unclosed { in %r" % expr)
        if expr[close] == "}":
            return found, close + 1
        m = MATCHER_RE.match(expr, close)
        if not m:
            raise ValueError("cannot read the label matchers at %r" % expr[close:])
        found.append((m.group(1), m.group(2), m.group(3)))
        close = m.end()


def promql_names(expr):
    """What a PromQL expression refers to: ([(metric name or None, [(label, op, value)])] for
    every vector selector, [label names of by/without/on/ignoring/group_*])."""
    selectors, grouping = [], []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":                          # a string (e.g. label_replace's arguments)
            end = i + 1
            while end < n and expr[end] != c:
                end += 2 if expr[end] == "\\" else 1
            i = end + 1
        elif c == "[":                           # a range or subquery: durations
            i = expr.index("]", i) + 1
        elif c == "{":                           # a selector without a metric name
            matchers, i = _matchers(expr, i)
            selectors.append((None, matchers))
        elif c == "$":                           # a dashboard variable
            m = re.compile(r"\$\{?\w+\}?").match(expr, i)
            i = m.end()
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            m = re.compile(r"[0-9A-Za-z_.]+").match(expr, i)
            i = m.end()
        elif c.isalpha() or c in "_:":
            m = re.compile(r"[A-Za-z0-9_:]+").match(expr, i)
            word, j = m.group(0), m.end()
            k = j
            while k < n and expr[k] in " \t\n":
                k += 1
            follows = expr[k] if k < n else ""
            if word in GROUPING_WORDS:
                if follows == "(":
                    close = expr.index(")", k)
                    grouping += [w.strip() for w in expr[k + 1:close].split(",") if w.strip()]
                    j = close + 1
            elif word.lower() in PROMQL_WORDS or follows == "(":
                pass                             # an operator, or a function's name
            elif follows == "{":
                matchers, j = _matchers(expr, k)
                selectors.append((word, matchers))
            else:
                selectors.append((word, []))
            i = j
        else:
            i += 1
    return selectors, grouping


def parse_exposition(text):
    """{metric name: [labels dict of each sample]} from the Prometheus text format."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key = line.rsplit(" ", 1)[0]
        name, _, labels = key.partition("{")
        series.setdefault(name, []).append(dict(re.findall(r'(\w+)="([^"]*)"', labels)))
    return series


def reference_problems(where, expr, exported):
    """What in `expr` a sidecar does not export: unknown metrics, label values no series has,
    labels no series of its metrics carries. One line per problem, naming `where`."""
    problems = []
    selectors, grouping = promql_names(expr)
    names = [name for name, _ in selectors if name]
    if not names:
        problems.append("%s: names no metric: %s" % (where, expr))
    for name, matchers in selectors:
        if name is None:
            problems.append("%s: a selector without a metric name: %s" % (where, expr))
            continue
        if name in PROMETHEUS_SERIES:
            continue
        if name not in exported:
            problems.append("%s: %s is not exported by the sidecar" % (where, name))
            continue
        for label, op, value in matchers:
            if label in TARGET_LABELS:
                continue
            values = {s[label] for s in exported[name] if label in s}
            if not values:
                problems.append("%s: %s has no label %s" % (where, name, label))
            elif op == "=" and value not in values:
                problems.append("%s: no %s{%s=\"%s\"} is exported (there are %s)"
                                % (where, name, label, value, ", ".join(sorted(values))))
            elif op == "=~" and not any(re.fullmatch(value, v) for v in values):
                problems.append("%s: no %s{%s=~\"%s\"} is exported" % (where, name, label, value))
    carried = set(TARGET_LABELS)
    for name in names:
        for s in exported.get(name, []):
            carried.update(s)
    for label in grouping:
        if label not in carried:
            problems.append("%s: grouping by %s, which none of %s carries"
                            % (where, label, ", ".join(names)))
    return problems


# ---------------------------------------------------------------------------------------------
# The files


def load_rules():
    with open(RULES, encoding="utf-8") as f:
        return yaml.safe_load(f)


def alerting_rules():
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "alert" in rule]


def load_dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def dashboard_panels(dashboard):
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


# Grafana's own variables, and a value for each dashboard variable, that make a panel's
# expression plain PromQL.
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def dashboard_variables(dashboard):
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def as_promql(expr, variables):
    """`expr` with every $variable replaced; KeyError for a variable the dashboard lacks."""
    def value(m):
        name = m.group(1) or m.group(2)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        variable = variables[name]
        return variable.get("allValue") or "sse-sidecar"
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard_exprs(dashboard):
    """[(where, expr)] of every panel target."""
    out = []
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                out.append(("panel %s %r target %s" % (panel.get("id"), panel.get("title"),
                                                       target.get("refId")), target["expr"]))
    return out


def variable_query_metrics(dashboard):
    """[(where, metric)] of the label_values(METRIC..., label) queries of the variables."""
    out = []
    for v in dashboard["templating"]["list"]:
        if v.get("type") != "query":
            continue
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.match(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", query)
        out.append(("variable %s" % v["name"], m.group(1) if m else None))
    return out


# ---------------------------------------------------------------------------------------------


@need_yaml
class AlertRulesTest(unittest.TestCase):
    @need_promtool
    def test_promtool_check_rules(self):
        status, output = promtool("check", "rules", RULES)
        self.assertEqual(status, 0, output)
        self.assertIn("SUCCESS", output)

    @need_promtool
    def test_promtool_unit_tests_pass(self):
        status, output = promtool("test", "rules", os.path.basename(RULES_TEST), cwd=MONITORING)
        self.assertEqual(status, 0, output)
        self.assertIn("SUCCESS", output)

    def test_every_alert_is_complete(self):
        rules = alerting_rules()
        self.assertGreaterEqual(len(rules), 10)
        names = [r["alert"] for r in rules]
        self.assertEqual(len(names), len(set(names)), "alert names repeat: %s" % names)
        for rule in rules:
            with self.subTest(alert=rule["alert"]):
                self.assertTrue(rule["alert"].startswith("SseSidecar"))
                self.assertIn("for", rule, "every alert says how long its condition must hold")
                self.assertIn(rule.get("labels", {}).get("severity"), SEVERITIES)
                annotations = rule.get("annotations", {})
                self.assertTrue(annotations.get("summary"))
                # The description tells the operator where to read on.
                self.assertIn("operations guide", annotations.get("description", ""))

    def test_descriptions_point_to_sections_the_operations_guide_has(self):
        with open(os.path.join(REPO_ROOT, "docs", "operations.md"), encoding="utf-8") as f:
            headings = set(re.findall(r"(?m)^#+ (.+)$", f.read()))
        for rule in alerting_rules():
            description = rule["annotations"]["description"]
            for section in re.findall(r'"([A-Z][^"]+)"', description):
                with self.subTest(alert=rule["alert"], section=section):
                    self.assertIn(section, headings)

    def test_every_alert_is_unit_tested_firing_and_quiet(self):
        """alerts-test.yml makes each alert fire on some series and checks it stays quiet on
        others (a healthy sidecar, or before its `for:` has passed)."""
        with open(RULES_TEST, encoding="utf-8") as f:
            tests = yaml.safe_load(f)
        self.assertEqual(tests["rule_files"], [os.path.basename(RULES)])
        fires, quiet = set(), set()
        for test in tests["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
        names = {r["alert"] for r in alerting_rules()}
        self.assertEqual(names - fires, set(), "alerts no test makes fire")
        self.assertEqual(names - quiet, set(), "alerts no test checks quiet")
        self.assertEqual((fires | quiet) - names, set(), "tests of alerts that do not exist")


class DashboardTest(unittest.TestCase):
    def test_dashboard_is_importable_json(self):
        dashboard = load_dashboard()
        for key in ("title", "uid", "panels", "templating", "schemaVersion"):
            self.assertIn(key, dashboard)
        variables = dashboard_variables(dashboard)
        # A data source chosen at import or in the dashboard, and the instance to look at.
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        self.assertIn("instance", variables)
        self.assertTrue(variables["instance"].get("includeAll"))

    def test_panels(self):
        dashboard = load_dashboard()
        panels = list(dashboard_panels(dashboard))
        self.assertGreaterEqual(len(panels), 20)
        ids = [p.get("id") for p in panels]
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat: %s" % ids)
        for panel in panels:
            with self.subTest(panel=panel.get("id"), title=panel.get("title")):
                self.assertIsInstance(panel.get("id"), int)
                self.assertTrue(panel.get("title"))
                self.assertEqual(panel.get("datasource"),
                                 {"type": "prometheus", "uid": "${datasource}"})
                targets = panel.get("targets") or []
                self.assertTrue(targets, "a panel without targets")
                for target in targets:
                    self.assertTrue(target.get("expr"), "a target without an expression")
                    self.assertEqual(target.get("datasource"), panel["datasource"])
                refs = [t.get("refId") for t in targets]
                self.assertEqual(len(refs), len(set(refs)))
                pos = panel.get("gridPos", {})
                self.assertLessEqual(pos.get("x", 0) + pos.get("w", 0), 24)

    def test_panels_do_not_overlap(self):
        cells = {}
        for panel in dashboard_panels(load_dashboard()):
            pos = panel["gridPos"]
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    self.assertNotIn((x, y), cells, "panel %s overlaps panel %s"
                                     % (panel["id"], cells.get((x, y))))
                    cells[(x, y)] = panel["id"]

    def test_expressions_use_only_the_dashboards_variables(self):
        dashboard = load_dashboard()
        variables = dashboard_variables(dashboard)
        for where, expr in dashboard_exprs(dashboard):
            with self.subTest(where=where):
                for name in re.findall(r"\$\{?(\w+)\}?", expr):
                    self.assertTrue(name in variables or name in GRAFANA_BUILTINS,
                                    "%s uses $%s, which the dashboard does not define"
                                    % (where, name))
                # Every series is of the chosen job and instances.
                for metric, matchers in promql_names(expr)[0]:
                    labels = {label: (op, value) for label, op, value in matchers}
                    self.assertEqual(labels.get("instance"), ("=~", "$instance"),
                                     "%s: %s without instance=~\"$instance\"" % (where, metric))

    @need_promtool
    @need_yaml
    def test_every_expression_parses(self):
        """Each panel expression, its variables given values, as a recording rule that
        `promtool check rules` parses."""
        dashboard = load_dashboard()
        variables = dashboard_variables(dashboard)
        rules = []
        for n, (where, expr) in enumerate(dashboard_exprs(dashboard)):
            rules.append({"record": "sse_sidecar_dashboard:expr_%d" % n,
                          "expr": as_promql(expr, variables),
                          "labels": {"where": where}})
        tmp = tempfile.mkdtemp(prefix="sse-dashboard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "dashboard-rules.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        status, output = promtool("check", "rules", path)
        self.assertEqual(status, 0, output)
        self.assertIn("SUCCESS: %d rules found" % len(rules), output)

    @need_promtool
    @need_yaml
    def test_a_broken_expression_is_caught(self):
        """The check above can fail: a panel expression with a parenthesis missing."""
        tmp = tempfile.mkdtemp(prefix="sse-dashboard-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "broken.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
                {"record": "x:y", "expr": "sum(rate(sse_bytes_sent_total[5m])"}]}]}, f)
        status, output = promtool("check", "rules", path)
        self.assertNotEqual(status, 0, output)


class PromqlNamesTest(unittest.TestCase):
    """The reader of PromQL the name checks rely on."""

    def test_selectors_functions_and_grouping(self):
        selectors, grouping = promql_names(
            'sum by (instance, kind) (rate(sse_ingest_errors_total{kind!="rate_limited", '
            'instance=~"$instance"}[$__rate_interval])) / on(instance) group_left '
            'sse_max_connections > 0.8 * 1e3 and time() - process_start_time_seconds offset 5m')
        self.assertEqual(selectors, [
            ("sse_ingest_errors_total", [("kind", "!=", "rate_limited"),
                                         ("instance", "=~", "$instance")]),
            ("sse_max_connections", []),
            ("process_start_time_seconds", []),
        ])
        self.assertEqual(grouping, ["instance", "kind", "instance"])

    def test_strings_with_braces_and_commas(self):
        selectors, _ = promql_names('label_replace(up{job="a,}b"}, "x", "$1", "job", "(.*)")')
        self.assertEqual(selectors, [("up", [("job", "=", "a,}b")])])


@need_yaml
class ExportedNamesTest(RedisTestCase, SidecarTestCase):
    """Every name the rules and the dashboard use, against the /metrics of real sidecars."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.certs = Certificates()

    @classmethod
    def tearDownClass(cls):
        cls.certs.cleanup()
        super().tearDownClass()

    def scrape(self):
        """The /metrics text of a Redis engine sidecar and of an in-memory one with presence
        and a TLS listener."""
        redis = self.start_redis()
        nodes, _ = self.start_redis_sidecars(redis, 1)
        # Presence with a webhook (to a loopback port nobody listens on: nothing is sent
        # while nobody joins).
        memory = self.start_sidecar({
            "listen": {"sse_tls": "127.0.0.1:%d" % free_port()},
            "tls": {"certificate_file": self.certs.leaf[0], "key_file": self.certs.leaf[1]},
            "access": {"tokens": [{"token": "monitoring-subscriber-token-0123",
                                   "subject": "alice", "topics": ["chat.*"]}]},
            "presence": {
                "rules": [{"topics": ["chat.*"], "event_topic": "presence.{topic}",
                           "webhook": True}],
                "webhook": {"url": "http://127.0.0.1:%d/presence" % free_port()},
            },
        })
        texts = []
        for sc in (memory, nodes[0]):
            status, _, body = sc.admin_request("GET", "/metrics")
            self.assertEqual(status, 200)
            texts.append(body.decode("utf-8"))
        return texts

    def exported(self):
        """{metric name: [labels of each sample]} over both sidecars."""
        series = {}
        for text in self.scrape():
            for name, samples in parse_exposition(text).items():
                series.setdefault(name, []).extend(samples)
        # Both sidecars were read: the Redis engine's families, the presence webhook's and
        # the TLS listener's.
        missing = [name for name in ("sse_engine_up", "sse_presence_webhook_dropped_total",
                                     "sse_tls_certificate_expiry_timestamp_seconds")
                   if name not in series]
        self.assertEqual(missing, [])
        return series

    def references(self):
        """[(where, expr)] of every rule expression and dashboard expression."""
        out = [("alert %s" % r["alert"], r["expr"]) for r in alerting_rules()]
        dashboard = load_dashboard()
        out += dashboard_exprs(dashboard)
        for where, metric in variable_query_metrics(dashboard):
            out.append((where, metric or "(no label_values metric)"))
        return out

    def test_rules_and_dashboard_name_only_exported_metrics(self):
        exported = self.exported()
        references = self.references()
        problems = []
        for where, expr in references:
            problems += reference_problems(where, expr, exported)
        self.assertEqual(problems, [])

        # The check finds what is wrong: a misspelled metric, a label value no series has, a
        # label no series carries, each in a copy of a real rule.
        rules = {r["alert"]: r["expr"] for r in alerting_rules()}
        slow = rules["SseSidecarSlowConsumers"]
        stalled = rules["SseSidecarPublisherStalled"]
        self.assertEqual(reference_problems(
            "misspelled", slow.replace("disconnects_total", "disconnect_total"), exported),
            ["misspelled: sse_slow_consumer_disconnect_total is not exported by the sidecar"])
        self.assertEqual(reference_problems(
            "value", stalled.replace('"stalled"', '"stall"'), exported),
            ['value: no sse_publisher_closed_total{reason="stall"} is exported (there are '
             'client, drain, error, refused, stalled)'])
        self.assertEqual(reference_problems(
            "grouping", "sum by (kind) (%s)" % slow, exported),
            ["grouping: grouping by kind, which none of sse_slow_consumer_disconnects_total "
             "carries"])

    @need_promtool
    def test_metrics_pass_promtool_lint(self):
        """promtool's linter of the exposition: its format, HELP texts, and naming conventions
        such as counters ending in _total."""
        for text in self.scrape():
            proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                                  capture_output=True, text=True, timeout=60)
            problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                        if line and line not in LINT_KNOWN]
            self.assertEqual(problems, [])
            self.assertIn(proc.returncode, (0, 3))  # 3: lint problems only, all known

    def test_every_exported_family_is_on_the_dashboard(self):
        """A family the sidecar exports and no panel shows is probably forgotten."""
        exported = self.exported()
        shown = set()
        for _, expr in dashboard_exprs(load_dashboard()):
            shown.update(name for name, _ in promql_names(expr)[0] if name)
        self.assertEqual(set(exported) - shown, set())


if __name__ == "__main__":
    unittest.main()
