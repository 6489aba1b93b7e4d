#!/usr/bin/env python3
"""Runs a command the way systemd runs a Type=notify service started with its socket unit, for
machines where systemd is not PID 1 (containers):

- with --listen, creates the unit's Unix socket (SocketUser=, SocketGroup=, SocketMode=,
  Backlog=) once, and hands it to every start of the service as descriptor 3 with LISTEN_FDS,
  LISTEN_PID and LISTEN_FDNAMES (FileDescriptorName=), keeping it open in between, so
  connections made while the service is down wait in the backlog;
- receives notifications on NOTIFY_SOCKET and logs each with the sender's pid and whether it is
  the main process (NotifyAccess=main);
- sets WATCHDOG_USEC and WATCHDOG_PID, UMask= and LimitNOFILE= (capped at this process's hard
  limit when it may not raise it), and starts the command in / (a system service's default
  WorkingDirectory=), so that the service, running as another user, never depends on the
  directory this was started in (which that user may not be allowed to enter);
- starts the command --runs times; after each exit it logs the exit status and waits for
  SIGUSR1 before starting it again (a restart).

Files in --dir, which is made mode 0755 (the service connects to notify.sock in it): pid (the
running service's pid), notify.log ("SECONDS pid=PID main|other MESSAGE" per notification),
exits.log ("run N pid PID exit CODE" or "... signal NAME").
SIGTERM to this process stops it (and the service, with SIGTERM).
"""
import argparse
import grp
import os
import pwd
import resource
import signal
import socket
import struct
import sys
import threading
import time


def log_line(path, text):
    with open(path, "a", encoding="utf-8") as f:
        f.write(text + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--listen", help="Unix socket path (ListenStream=)")
    p.add_argument("--socket-user", default="root")
    p.add_argument("--socket-group", default="root")
    p.add_argument("--socket-mode", default="0666")
    p.add_argument("--backlog", type=int, default=128)
    p.add_argument("--fdname", default="")
    p.add_argument("--watchdog-usec", type=int, default=0)
    p.add_argument("--umask", default="0022")
    p.add_argument("--limit-nofile", type=int, default=0)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("no command")

    os.makedirs(a.dir, exist_ok=True)
    os.chmod(a.dir, 0o755)
    pid_file = os.path.join(a.dir, "pid")
    notify_log = os.path.join(a.dir, "notify.log")
    exits_log = os.path.join(a.dir, "exits.log")
    for f in (notify_log, exits_log):
        open(f, "w", encoding="utf-8").close()

    # SIGUSR1 (start again) and SIGTERM (stop) are taken with sigwait: block them here, and
    # unblock them in the service before it starts.
    control = {signal.SIGUSR1, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, control)

    listener = None
    if a.listen:
        try:
            os.unlink(a.listen)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(a.listen)
        os.chown(a.listen, pwd.getpwnam(a.socket_user).pw_uid, grp.getgrnam(a.socket_group).gr_gid)
        os.chmod(a.listen, int(a.socket_mode, 8))
        listener.listen(a.backlog)

    notify_path = os.path.join(a.dir, "notify.sock")
    try:
        os.unlink(notify_path)
    except FileNotFoundError:
        pass
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    os.chmod(notify_path, 0o777)
    notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    main_pid = [0]

    def receive():
        space = socket.CMSG_SPACE(struct.calcsize("iII"))
        while True:
            data, ancdata, _, _ = notify.recvmsg(4096, space)
            sender = 0
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    sender = struct.unpack("iII", payload[: struct.calcsize("iII")])[0]
            who = "main" if sender == main_pid[0] else "other"
            text = data.decode("utf-8", "replace").strip().replace("\n", " ")
            log_line(notify_log, f"{time.monotonic():.3f} pid={sender} {who} {text}")

    threading.Thread(target=receive, daemon=True).start()

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = a.limit_nofile
    if nofile and hard != resource.RLIM_INFINITY and nofile > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        except (ValueError, OSError):
            print(f"unit_host: LimitNOFILE={nofile} not allowed here; using {hard}", file=sys.stderr)
            nofile = hard

    stopping = threading.Event()
    for run in range(1, a.runs + 1):
        if stopping.is_set():
            break
        if run > 1:
            if signal.sigwait(control) == signal.SIGTERM:
                break
        child = os.fork()
        if child == 0:
            try:
                env = dict(os.environ)
                me = os.getpid()
                env["NOTIFY_SOCKET"] = notify_path
                for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID"):
                    env.pop(key, None)
                if a.watchdog_usec:
                    env["WATCHDOG_USEC"] = str(a.watchdog_usec)
                    env["WATCHDOG_PID"] = str(me)
                if listener is not None:
                    os.dup2(listener.fileno(), 3)
                    os.set_inheritable(3, True)
                    env["LISTEN_FDS"] = "1"
                    env["LISTEN_PID"] = str(me)
                    if a.fdname:
                        env["LISTEN_FDNAMES"] = a.fdname
                if nofile:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
                os.umask(int(a.umask, 8))
                os.chdir("/")
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                os.execvpe(cmd[0], cmd, env)
            except BaseException as e:  # noqa: BLE001 - report anything, never return to the parent's code
                print(f"unit_host: cannot start {cmd[0]}: {e}", file=sys.stderr)
            os._exit(127)
        main_pid[0] = child
        with open(pid_file + ".tmp", "w", encoding="utf-8") as f:
            f.write(f"{child}\n")
        os.replace(pid_file + ".tmp", pid_file)

        # Wait for the service, passing a SIGTERM sent to this process on to it.
        stop_thread_done = threading.Event()

        def forward_stop(pid=child, done=stop_thread_done):
            while not done.is_set():
                if signal.sigtimedwait({signal.SIGTERM}, 0.2) is not None:
                    stopping.set()
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass

        forwarder = threading.Thread(target=forward_stop, daemon=True)
        forwarder.start()
        _, status = os.waitpid(child, 0)
        stop_thread_done.set()
        forwarder.join()
        if os.WIFSIGNALED(status):
            outcome = f"signal {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            outcome = f"exit {os.WEXITSTATUS(status)}"
        log_line(exits_log, f"run {run} pid {child} {outcome}")
        os.unlink(pid_file)

    notify.close()
    try:
        os.unlink(notify_path)
    except FileNotFoundError:
        pass
    # The socket file stays, as with RemoveOnStop=no; the listening socket closes with us.


if __name__ == "__main__":
    main()
