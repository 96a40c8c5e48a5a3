#!/usr/bin/env bash
# Installs the Debian packages tickd needs to build, test and run. Idempotent and quiet when all is there.
# As root it uses apt-get; otherwise it names what is missing and exits non-zero.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev   # toolchain; clang + rt for libFuzzer
  libzstd-dev zlib1g-dev                                      # block compression and crc32 in the store
  libsqlite3-dev postgresql                                   # bench_store peers (loaded at run time)
  libcmocka-dev                                               # unit tests
  libssl-dev                                                  # libcrypto: SHA-1/base64 (WebSocket handshake)
  python3-websockets                                          # a real WebSocket client in tests/net
  libjsmn-dev                                                 # JSON tokenizer for the exchange feeds (header-only)
  python3                                                     # end-to-end test drivers
  curl                                                        # REST end-to-end test
  redis-server nodejs                                         # peers in bench/bench_fanout; the dashboard's build
  openssl                                                     # test-time self-signed certs for the wss mock exchange
  chromium                                                    # headless browser for the dashboard's tests
)
# The dashboard's build needs Node.js >= 20 and npm: the machine's own (nodesource, npm included) when
# present; Debian's npm only when there is none (web/build.sh says so if Node.js is too old for Vite 7).
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm: Debian packages it apart from nodejs; NodeSource's nodejs bundles it (and conflicts with Debian's)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "tickd: missing Debian packages: ${missing[*]}" >&2
  echo "tickd: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "tickd: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/tickd-apt.log 2>&1; then
  apt-get update -qq >>/tmp/tickd-apt.log 2>&1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/tickd-apt.log 2>&1 || {
    echo "tickd: apt-get install failed; see /tmp/tickd-apt.log" >&2; tail -20 /tmp/tickd-apt.log >&2; exit 1; }
fi
