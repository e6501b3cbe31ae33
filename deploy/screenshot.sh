#!/usr/bin/env bash
# Screenshot the asynq dashboard of `oktaq dev` in headless Chromium, after
# a few actions, to check that it renders queues and tasks. Not part of
# `make test` (no browser there). Needs Go, curl and Debian's chromium
# (installed when missing).
#
#   deploy/screenshot.sh [OUTDIR]     # default deploy/screenshots
#
# Chromium cannot answer the dashboard's basic-auth prompt headless, so a
# loopback-only proxy (deploy/screenshot) adds the header. Ports are
# offset from `make run`'s so both can run at once.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-deploy/screenshots}")
mkdir -p "$out"

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  chromium=$(command -v chromium)
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

api=127.0.0.1:18080 admin=127.0.0.1:19090 proxy=127.0.0.1:19099
go build -trimpath -o "$work/oktaq" ./cmd/oktaq
go build -o "$work/proxy" ./deploy/screenshot

env -u OKTAQ_REDIS_URL "$work/oktaq" dev --quiet --api-addr "$api" --admin-addr "$admin" \
  --sim-addr 127.0.0.1:18180 --redis-addr 127.0.0.1:16390 >"$work/banner.txt" 2>"$work/dev.log" &
pids+=($!)
for _ in $(seq 100); do curl -fsS "http://$admin/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$admin/readyz" >/dev/null || { cat "$work/dev.log"; exit 1; }

# post ACTION USER ROLE TICKET [EXTRA_JSON]: prints the task id, or the
# API's answer on stderr when it refuses.
post() {
  local body="{\"action\":\"$1\",\"user\":\"$2\",\"requester\":{\"id\":\"agent-42\",\"role\":\"$3\"},\"ticket\":{\"system\":\"demo\",\"id\":\"$4\"}${5:+,$5}}"
  local answer
  answer=$(curl -sS -X POST "http://$api/v1/actions" -H 'Authorization: Bearer oktaq-dev-token' \
    -H 'Content-Type: application/json' -d "$body")
  case "$answer" in
    *'"state"'*) sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$answer" ;;
    *) echo "POST $1 $2: $answer" >&2 ;;
  esac
}
ids=(
  "$(post user.suspend bob@example.com it-admin REQ-101)"
  "$(post user.reset_password alice@example.com helpdesk REQ-102)"
  "$(post user.unlock erin@example.com helpdesk REQ-103)"
  "$(post user.groups.update carol+ops@example.com it-admin REQ-104 '"groups":{"add":["Engineering-Admins"],"remove":["Engineering"]}')"
  "$(post user.unsuspend dave@example.com it-admin REQ-105 '"bulk":true')"
  "$(post user.clear_sessions niaj@example.com helpdesk REQ-106)"
  "$(post user.suspend nobody@example.com it-admin REQ-107)"
  "$(post user.unlock mallory@example.com helpdesk REQ-108)"
)
[ -n "$(post user.deactivate heidi@example.com it-admin REQ-109 "\"run_at\":\"$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\"")" ] ||
  exit 1

# Wait until every action but the scheduled one is completed or archived.
for id in "${ids[@]}"; do
  [ -n "$id" ] || { echo "an enqueue failed (see above)" >&2; exit 1; }
  for _ in $(seq 100); do
    state=$(curl -fsS "http://$api/v1/actions/$id" -H 'Authorization: Bearer oktaq-dev-token' |
      sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
    case "$state" in completed|archived) break ;; esac
    sleep 0.1
  done
  echo "$id: $state"
done

"$work/proxy" -listen "$proxy" -target "http://$admin" &
pids+=($!)
for _ in $(seq 50); do curl -fsS "http://$proxy/monitoring/" >/dev/null 2>&1 && break; sleep 0.1; done

shot() { # shot FILE PATH
  "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$work/chromium" --window-size=1400,900 --virtual-time-budget=8000 \
    --screenshot="$out/$1" "http://$proxy/monitoring/$2" 2>>"$work/chromium.log" >/dev/null
  echo "wrote $out/$1"
}
shot dashboard-queues.png ""
shot dashboard-critical-completed.png "queues/critical?status=completed"
shot dashboard-default-archived.png "queues/default?status=archived"
