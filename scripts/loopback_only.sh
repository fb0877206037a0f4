# Sourced by run_tests.sh. Whole-system and browser tests run in a network namespace of their
# own that has only the loopback interface, so no test can send traffic anywhere but 127.0.0.0/8.
loopback_only() {
  if [ "${TALEWEAVER_NO_NETNS:-0}" != 1 ] && unshare -n true 2>/dev/null && command -v ip >/dev/null; then
    unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
  else
    echo "(no network namespace here: tests run on the host network, loopback addresses only)"
    "$@"
  fi
}
