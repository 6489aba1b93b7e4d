#!/usr/bin/env python3
"""Tasks: background jobs whose progress reaches the browser through sse-sidecar.

Each user sees only their own jobs. The app hands the page a short-lived HS256 JWT granting the
one topic tasks.USER (the secret is shared with the sidecar's access.jwt.keys); the page opens
EventSource on the sidecar with it. Jobs run in threads here and publish `progress` events over
the sidecar's Unix socket.
"""

import itertools
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))

import hs256  # noqa: E402
from sidecar_client import Publisher, PublishRefused, SidecarUnavailable  # noqa: E402
from webapp import (App, HttpError, Sessions, check_name, common_arguments,  # noqa: E402
                    json_response, now_ms)

ISSUER = "tasks-example"
AUDIENCE = "sse-sidecar"
JOB_NAMES = ["Export invoices", "Resize images", "Rebuild search index", "Send newsletter",
             "Import contacts", "Generate report", "Back up database", "Transcode video"]
FAILURES = ["disk quota exceeded", "upstream API timed out", "input file is corrupt"]
MAX_JOBS_PER_USER = 50
MAX_RUNNING_PER_USER = 10

app = App("tasks", os.path.join(os.path.dirname(os.path.abspath(__file__)), "static"))
sessions = Sessions("tasks_session")
lock = threading.Lock()
jobs = {}                      # user -> {job id: job}, in start order
job_ids = itertools.count(1)
publisher = None
secret = b""
token_ttl = 120
fail_rate = 0.2
job_seconds = (6.0, 16.0)


def job_view(job):
    return {k: job[k] for k in ("job", "name", "pct", "state", "error", "rev", "started",
                                "finished")}


def publish(user, job):
    """Sends the job's state to its owner's topic. The app's state is the truth: a publish
    that fails only means open pages learn about it at their next full reload."""
    try:
        publisher.publish("tasks." + user, job_view(job), event="progress")
    except (SidecarUnavailable, PublishRefused) as e:
        app.log("job %s: could not publish progress: %s" % (job["job"], e))


def run(user, job, fails):
    """A simulated long job: 6-16 s of work in uneven steps, failing part of the way when told."""
    duration = random.uniform(*job_seconds)
    fail_at = random.randint(30, 85) if fails else None
    step = 0.35
    pct = 0.0
    time.sleep(random.uniform(0.3, 0.8))  # queued
    with lock:
        job["state"] = "running"
        job["rev"] += 1
        snapshot = dict(job)
    publish(user, snapshot)
    while True:
        time.sleep(step)
        pct = min(100.0, pct + random.uniform(0.4, 1.6) * 100.0 * step / duration)
        with lock:
            job["rev"] += 1
            if fail_at is not None and pct >= fail_at:
                job.update(pct=int(fail_at), state="failed", error=random.choice(FAILURES),
                           finished=now_ms())
            elif pct >= 100:
                job.update(pct=100, state="done", finished=now_ms())
            else:
                job["pct"] = int(pct)
            snapshot = dict(job)
        publish(user, snapshot)
        if snapshot["state"] in ("done", "failed"):
            app.log("job %s of %s: %s" % (job["job"], user, snapshot["state"]))
            return


# -- session ------------------------------------------------------------------------------------

@app.route("POST", "/api/login")
def login(request):
    user = check_name(request.json().get("name"), "name")
    _, cookie = sessions.login(user)
    return json_response({"user": user}, headers=[("Set-Cookie", cookie)])


@app.route("POST", "/api/logout")
def logout(request):
    return json_response({"ok": True}, headers=[("Set-Cookie", sessions.logout(request))])


@app.route("GET", "/api/me")
def me(request):
    return {"user": sessions.require(request)}


@app.route("GET", "/api/token")
def token(request):
    """A JWT for the sidecar granting this user's topic only, valid for a short while."""
    user = sessions.require(request)
    now = int(time.time())
    claims = {"sub": user, "topics": ["tasks." + user], "iss": ISSUER, "aud": AUDIENCE,
              "iat": now, "exp": now + token_ttl}
    return {"token": hs256.encode(secret, claims), "expires_at": claims["exp"], "ttl": token_ttl,
            "topic": "tasks." + user}


# -- jobs ---------------------------------------------------------------------------------------

@app.route("GET", "/api/jobs")
def list_jobs(request):
    user = sessions.require(request)
    with lock:
        return {"jobs": [job_view(j) for j in jobs.get(user, {}).values()]}


@app.route("POST", "/api/jobs")
def start_job(request):
    """Starts a job. Optional body: {"name": "...", "fail": true|false}."""
    user = sessions.require(request)
    options = request.json() if request.body else {}
    name = options.get("name", random.choice(JOB_NAMES))
    if not isinstance(name, str) or not name.strip() or len(name) > 60:
        raise HttpError(400, "name must be a non-empty string of at most 60 characters")
    fails = options.get("fail", random.random() < fail_rate)
    if not isinstance(fails, bool):
        raise HttpError(400, "fail must be true or false")
    with lock:
        mine = jobs.setdefault(user, {})
        if sum(j["state"] in ("queued", "running") for j in mine.values()) >= MAX_RUNNING_PER_USER:
            raise HttpError(429, "%d jobs are already running; wait for one to finish"
                            % MAX_RUNNING_PER_USER)
        while len(mine) >= MAX_JOBS_PER_USER:
            oldest = next((k for k, j in mine.items() if j["state"] in ("done", "failed")), None)
            if oldest is None:
                break
            del mine[oldest]
        job = {"job": "j%d" % next(job_ids), "name": name.strip(), "pct": 0, "state": "queued",
               "error": None, "rev": 0, "started": now_ms(), "finished": None}
        mine[job["job"]] = job
        snapshot = dict(job)
    publish(user, snapshot)
    threading.Thread(target=run, args=(user, job, fails), daemon=True).start()
    app.log("job %s of %s: %s started" % (job["job"], user, job["name"]))
    return json_response({"job": job_view(snapshot)}, 201)


def main():
    global publisher, secret, token_ttl, fail_rate, job_seconds
    parser = common_arguments(__doc__, 8003)
    parser.add_argument("--token-ttl", type=int,
                        default=int(os.environ.get("DEMO_TOKEN_TTL", "120")),
                        help="lifetime of the stream tokens in seconds (env DEMO_TOKEN_TTL)")
    parser.add_argument("--fail-rate", type=float,
                        default=float(os.environ.get("DEMO_FAIL_RATE", "0.2")),
                        help="share of jobs that fail part of the way (env DEMO_FAIL_RATE)")
    parser.add_argument("--job-seconds", default=os.environ.get("DEMO_JOB_SECONDS", "6-16"),
                        help="how long a job runs, MIN-MAX seconds (env DEMO_JOB_SECONDS)")
    options = parser.parse_args()
    try:
        low, high = (float(v) for v in options.job_seconds.split("-"))
        if not 1 <= low <= high <= 600:
            raise ValueError
        job_seconds = (low, high)
    except ValueError:
        parser.error("--job-seconds must be MIN-MAX seconds, 1 <= MIN <= MAX <= 600")
    if not options.jwt_secret_file:
        parser.error("--jwt-secret-file is required: the secret of the sidecar's access.jwt.keys")
    if not 10 <= options.token_ttl <= 3600:
        parser.error("--token-ttl must be between 10 and 3600 seconds")
    if not 0 <= options.fail_rate <= 1:
        parser.error("--fail-rate must be between 0 and 1")
    # The file's bytes exactly as the sidecar reads them.
    with open(options.jwt_secret_file, "rb") as f:
        secret = f.read()
    token_ttl = options.token_ttl
    fail_rate = options.fail_rate
    publisher = Publisher(options.socket)
    app.config = {"sse": options.sse_url}
    app.serve(options.host, options.port)


if __name__ == "__main__":
    main()
