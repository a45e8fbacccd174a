#!/usr/bin/env bash
# The web app's vendored files are the pinned npm packages' files, byte for
# byte (src/web/assets/vendor/README.md). With --update, copies them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=src/web/assets/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
update=${1:-}
status=0
# package@version | integrity | file in the package | vendored name
while IFS='|' read -r spec integrity inner name; do
    [ -n "$spec" ] || continue
    (cd "$work" && npm pack --silent "$spec" >/dev/null)
    tgz=$(ls -t "$work"/*.tgz | head -n 1)
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$got" != "$integrity" ]; then
        echo "$spec: integrity $got, expected $integrity" >&2
        exit 1
    fi
    mkdir -p "$work/x" && tar -xzf "$tgz" -C "$work/x"
    if [ "$update" = "--update" ]; then
        cp "$work/x/package/$inner" "$vendor/$name"
    elif ! cmp -s "$work/x/package/$inner" "$vendor/$name"; then
        echo "$vendor/$name differs from $spec's $inner" >&2
        status=1
    else
        echo "$vendor/$name: equal to $spec's $inner"
    fi
    rm -rf "$work/x" "$tgz"
done <<'LIST'
hash-wasm@4.13.0|sha512-GrWl7wsV46fKIXQZB5ebskLZLAmKL6d9RS0fspCxDeQyjoNu1AfTJTMLPOJyfzaQm0ldFiwFN21/w+sE/kgEFQ==|dist/blake3.umd.min.js|blake3.umd.min.js
@noble/ed25519@2.3.0|sha512-M7dvXL2B92/M7dw9+gzuydL8qn/jiqNHaoR3Q+cb1q1GHV7uwE17WCyFMG+Y+TZb5izcaXk5TdJRrDUxHXL78A==|index.js|noble-ed25519.js
LIST
exit $status
