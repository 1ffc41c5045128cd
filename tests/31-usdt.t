#!/bin/bash
# USDT probes: present in the binary, and firing once per request when
# attached (through libbpf's USDT support, the path ampstat uses).
cd "$(dirname "$0")/.." || exit 1
n=0; fails=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }

notes=$(readelf -n build/amped 2>/dev/null)
for p in request_start request_done helper_handoff helper_return residency_miss; do
	echo "$notes" | grep -A2 "Provider: amped" | grep -q "Name: $p"
	t $? "USDT probe amped:$p is in build/amped"
done
nm build/amped | grep -q ' amped_current$'
t $? "global amped_current is in the symbol table"

if [ "$(id -u)" != 0 ] && [ "${AMPED_REQUIRE_BPF:-0}" != 1 ]; then
	echo "1..$n"; echo "# attach part skipped: not root"; exit $((fails > 0))
fi
root=$(mktemp -d); trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$root" "$out"' EXIT
echo hello > "$root/index.html"
out=$(mktemp)
build/amped --root "$root" --port 0 > "$out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$out")
[ -n "$url" ]; t $? "server started ($url)"
# the C part prints its own TAP; renumber it into this stream
while IFS= read -r line; do
	case "$line" in
	"ok "*) t 0 "${line#ok * - }" ;;
	"not ok "*) t 1 "${line#not ok * - }" ;;
	"1..0"*) echo "# ${line}"; [ "${AMPED_REQUIRE_BPF:-0}" = 1 ] && t 1 "USDT attach required" ;;
	"#"*) echo "$line" ;;
	esac
done < <(build/tests/usdt_smoke build/amped "$pid" "$url")
echo "1..$n"
exit $((fails > 0))
