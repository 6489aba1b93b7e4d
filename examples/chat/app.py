#!/usr/bin/env python3
"""Chat: an ordinary web app with rooms, given live messages, presence and receipts by
sse-sidecar.

The browser posts messages here; this app stores them and publishes each one to the sidecar
(topic chat.ROOM) over its Unix socket. Browsers read chat.ROOM and presence.chat.ROOM from the
sidecar with their session cookie: the sidecar asks POST /sidecar/auth here who the cookie
belongs to and which rooms that user may read.
"""

import collections
import hashlib
import hmac
import itertools
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))

from sidecar_client import Admin, Publisher, SidecarUnavailable  # noqa: E402
from webapp import (App, HttpError, Sessions, check_name, common_arguments,  # noqa: E402
                    json_response, now_ms, read_secret)

ROOMS = {
    "lobby": {"title": "Lobby", "about": "Everyone who is logged in", "private": False},
    "random": {"title": "Random", "about": "Off-topic, also open to everyone", "private": False},
    "staff": {"title": "Staff", "about": "Private: staff members only", "private": True},
}
STAFF = ("alice", "carol")
MAX_TEXT = 2000
KEPT_PER_ROOM = 200

app = App("chat", os.path.join(os.path.dirname(os.path.abspath(__file__)), "static"))
sessions = Sessions("chat_session")
lock = threading.Lock()
messages = {room: collections.deque(maxlen=KEPT_PER_ROOM) for room in ROOMS}
message_ids = itertools.count(1)
publisher = None
admin = None
webhook_secret = b""


def may_join(user, room):
    return not ROOMS[room]["private"] or user in STAFF


def topics_of(user):
    """What a user may read: each room open to them, and its presence topic."""
    rooms = [room for room in ROOMS if may_join(user, room)]
    return ["chat." + r for r in rooms] + ["presence.chat." + r for r in rooms]


def room_of(request, user):
    """The room named in the path, checked: 404 unknown, 403 not open to `user`."""
    room = request.params["room"]
    if room not in ROOMS:
        raise HttpError(404, "no such room: %r (rooms: %s)" % (room, ", ".join(ROOMS)))
    if not may_join(user, room):
        raise HttpError(403, "#%s is private: only %s may join it" % (room, " and ".join(STAFF)),
                        room=room)
    return room


def room_list(user):
    return [{"name": name, "title": r["title"], "about": r["about"], "private": r["private"],
             "allowed": may_join(user, name)} for name, r in ROOMS.items()]


def public_view(message):
    return {k: message[k] for k in ("id", "room", "from", "text", "time", "delivered", "readers")}


# -- session ------------------------------------------------------------------------------------

@app.route("POST", "/api/login")
def login(request):
    user = check_name(request.json().get("name"), "name")
    _, cookie = sessions.login(user)
    app.log("%s logged in" % user)
    return json_response({"user": user, "rooms": room_list(user), "staff": list(STAFF)},
                         headers=[("Set-Cookie", cookie)])


@app.route("POST", "/api/logout")
def logout(request):
    return json_response({"ok": True}, headers=[("Set-Cookie", sessions.logout(request))])


@app.route("GET", "/api/me")
def me(request):
    user = sessions.require(request)
    return {"user": user, "rooms": room_list(user), "staff": list(STAFF)}


# -- rooms --------------------------------------------------------------------------------------

@app.route("GET", "/api/rooms/<room>")
def room_state(request):
    """The recent messages of a room and who is online in it (asked from the sidecar)."""
    user = sessions.require(request)
    room = room_of(request, user)
    with lock:
        recent = [public_view(m) for m in messages[room]]
    try:
        online = admin.presence("chat." + room)
        presence_error = None
    except SidecarUnavailable as e:
        online, presence_error = [], str(e)
    return {"room": room, "messages": recent, "online": online, "presence_error": presence_error}


@app.route("POST", "/api/rooms/<room>/messages")
def send(request):
    user = sessions.require(request)
    room = room_of(request, user)
    text = request.json().get("text")
    if not isinstance(text, str):
        raise HttpError(400, "text must be a string: send {\"text\": \"...\"}")
    if not text.strip():
        raise HttpError(400, "text is empty")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise HttpError(400, "text is longer than %d characters" % MAX_TEXT)
    message = {"id": "m%d" % next(message_ids), "room": room, "from": user, "text": text,
               "time": now_ms()}
    reply = publisher.publish("chat." + room, message, event="message")
    # `subscribers`: the streams open on the topic that got the event, the sender's included.
    message.update(delivered=reply["subscribers"], readers=[], event_id=reply["id"])
    with lock:
        messages[room].append(message)
    return {"message": public_view(message), "delivered": reply["subscribers"]}


@app.route("POST", "/api/rooms/<room>/read")
def mark_read(request):
    """The page displayed these messages in a focused window: tell their senders."""
    user = sessions.require(request)
    room = room_of(request, user)
    ids = request.json().get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise HttpError(400, "ids must be a non-empty list of message ids")
    if len(ids) > KEPT_PER_ROOM:
        raise HttpError(400, "at most %d ids at once" % KEPT_PER_ROOM)
    wanted = set(ids)
    marked = []
    with lock:
        for message in messages[room]:
            if message["id"] in wanted and message["from"] != user and \
                    user not in message["readers"]:
                message["readers"].append(user)
                marked.append(message["id"])
    if marked:
        publisher.publish("chat." + room, {"room": room, "ids": marked, "reader": user},
                          event="read")
    return {"marked": marked}


# -- what the sidecar asks ----------------------------------------------------------------------

@app.route("POST", "/sidecar/auth")
def authorize_stream(request):
    """Delegated stream access: the sidecar forwards the browser's Cookie header and the
    topics it asks for; 200 {"subject","topics"} admits, 401/403 {"reason"} refuses."""
    body = request.json()
    user = sessions.user(request)
    if user is None:
        return json_response({"reason": "not logged in to the chat app"}, 401)
    allowed = topics_of(user)
    for topic in body.get("topics") or []:
        if topic not in allowed:
            room = topic.rsplit(".", 1)[-1]
            if room in ROOMS and ROOMS[room]["private"]:
                reason = "#%s is private: %s may not read it" % (room, user)
            else:
                reason = "%s is not a chat topic %s may read" % (topic, user)
            app.log("refused a stream of %s on %s" % (user, topic))
            return json_response({"reason": reason}, 403)
    return {"subject": user, "topics": allowed}


@app.route("POST", "/sidecar/presence")
def presence_webhook(request):
    """The sidecar's presence webhook: batches of joins and leaves, signed with the shared
    secret over "<timestamp>\n<body>". The page follows presence from its stream; the app
    only logs who came and went (where a real app would keep "last seen")."""
    if webhook_secret:
        stamp = request.headers.get("X-Sidecar-Timestamp") or ""
        signature = request.headers.get("X-Sidecar-Signature") or ""
        expected = "sha256=" + hmac.new(webhook_secret, stamp.encode("ascii", "replace") + b"\n" +
                                        request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            raise HttpError(401, "bad or missing X-Sidecar-Signature")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            raise HttpError(401, "X-Sidecar-Timestamp is missing or more than 5 minutes off")
    changes = request.json().get("changes")
    if not isinstance(changes, list):
        raise HttpError(400, "changes must be a list")
    for change in changes:
        if not isinstance(change, dict):
            raise HttpError(400, "each change must be an object")
        action, topic, subject = change.get("action"), change.get("topic"), change.get("subject")
        app.log("presence: %s %s #%s" % (subject, "joined" if action == "join" else "left",
                                         str(topic).split(".", 1)[-1]))
    return json_response({"ok": True, "received": len(changes)})


def main():
    global publisher, admin, webhook_secret
    parser = common_arguments(__doc__, 8001)
    options = parser.parse_args()
    publisher = Publisher(options.socket)
    admin = Admin(options.admin_url, read_secret(options.admin_token_file))
    if options.webhook_secret_file:
        with open(options.webhook_secret_file, "rb") as f:
            webhook_secret = f.read()  # the file's bytes, exactly as the sidecar reads them
    app.config = {"sse": options.sse_url, "staff": list(STAFF)}
    app.serve(options.host, options.port)


if __name__ == "__main__":
    main()
