#!/bin/sh
# test-peer.sh ROOT BUILD: tools/bench/compare's peer check and idiomatic peers
# (test_peer.py, TAP); a skip without python3. The torch parts run with Debian's
# /usr/bin/python3 and are skipped one by one when it cannot import torch.
if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP python3 is not installed (tools/bench/peer.py needs it)"
    exit 0
fi
exec python3 "$(dirname "$0")/test_peer.py" "$1" "$2"
