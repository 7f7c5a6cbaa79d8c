#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ (ignored by git) with copies of the seeds:
# the sipgate fixtures, the example and test configs, and the request
# seeds. Run from anywhere; re-running only adds missing files.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz")"
corpus="$fuzz/corpus"
mkdir -p "$corpus"/{config,conditions,transforms,request}

# JSON payloads. large-transcription.json is over the 64 KiB -max_len.
for f in "$root"/tests/fixtures/*.json; do
    [ "$(wc -c <"$f")" -le 65536 ] || continue
    cp -n "$f" "$corpus/conditions/"
    cp -n "$f" "$corpus/transforms/"
done

# routes.yaml files: the example, the fuzz configs and those of tests/*.rs.
cp -n "$root/routes.example.yaml" "$corpus/config/"
cp -n "$fuzz/rules.yaml" "$fuzz/request.yaml" "$corpus/config/"
cp -n "$fuzz"/seeds/config/*.yaml "$corpus/config/"

# Requests: a header block, a blank line, a body (see fuzz_targets/request.rs).
cp -n "$fuzz"/seeds/request/* "$corpus/request/"
