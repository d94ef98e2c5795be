"""Verify an audit export (`flask audit export -o audit.jsonl`) with the Python standard library.

Every line is one event. Its "hash" must be the SHA-256 of the previous event's hash followed by
the event's canonical JSON: every other field, keys sorted, no spaces, UTF-8. The first event
follows 64 zeros, and sequence numbers run 1, 2, 3 … without a gap.

    python3 verify_audit_export.py audit.jsonl
"""

import hashlib
import json
import sys


def verify(path):
    prev, seq = "0" * 64, 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            seq += 1
            try:
                event = json.loads(line)
                claimed = event.pop("hash")
            except (ValueError, KeyError, TypeError, AttributeError):  # not an event
                return f"BROKEN at seq {seq}"
            canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()
            if event.get("seq") != seq or event.get("prev_hash") != prev or digest != claimed:
                return f"BROKEN at seq {seq}"
            prev = claimed
    return f"OK: {seq} events, head {prev}"


if __name__ == "__main__":
    result = verify(sys.argv[1])
    print(result)
    sys.exit(0 if result.startswith("OK") else 1)
