#!/usr/bin/env python3
"""Writes a synthetic Rocket.Chat mongoexport dump (JSON lines, relaxed Extended JSON)
for import benchmarks: make-dump.py DIR --messages N [--rooms R] [--users U]."""
import argparse
import json
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("dir")
parser.add_argument("--messages", type=int, default=1_000_000)
parser.add_argument("--rooms", type=int, default=50)
parser.add_argument("--users", type=int, default=100)
args = parser.parse_args()
os.makedirs(args.dir, exist_ok=True)
rng = random.Random(1)
ALPHA = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"


def rid():
    return "".join(rng.choice(ALPHA) for _ in range(17))


def date(ms):
    s, ms = divmod(ms, 1000)
    import datetime
    t = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return {"$date": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms:03d}Z"}


base = 1_704_067_200_000
users = [(rid(), f"user{i}") for i in range(args.users)]
rooms = [(rid(), f"room-{i}") for i in range(args.rooms)]
with open(os.path.join(args.dir, "users.json"), "w") as f:
    for uid, name in users:
        f.write(json.dumps({"_id": uid, "username": name, "name": name.title(), "createdAt": date(base),
                            "emails": [{"address": f"{name}@example.org", "verified": True}],
                            "roles": ["user"], "services": {"password": {"bcrypt": "$2b$10$x"}}}) + "\n")
with open(os.path.join(args.dir, "rocketchat_room.json"), "w") as f:
    for room, name in rooms:
        f.write(json.dumps({"_id": room, "t": "c", "name": name, "fname": name, "ts": date(base)}) + "\n")
with open(os.path.join(args.dir, "rocketchat_subscription.json"), "w") as f:
    for room, name in rooms:
        for uid, uname in users:
            f.write(json.dumps({"_id": rid(), "rid": room, "t": "c", "name": name, "u": {"_id": uid, "username": uname},
                                "ts": date(base)}) + "\n")
words = "export data room message deploy review ticket meeting coffee release bug fix".split()
with open(os.path.join(args.dir, "rocketchat_message.json"), "w") as f:
    for i in range(args.messages):
        room = rooms[rng.randrange(len(rooms))][0]
        uid, uname = users[rng.randrange(len(users))]
        ts = date(base + i * 10)
        f.write(json.dumps({"_id": rid(), "rid": room, "msg": " ".join(rng.choice(words) for _ in range(8)),
                            "ts": ts, "u": {"_id": uid, "username": uname}, "_updatedAt": ts,
                            "mentions": [], "channels": [], "urls": []}) + "\n")
