#!/usr/bin/env bash
# After a failed ctest run: the failing NUnit tests with their messages, test-host crashes, and
# the last lines of every other failed test, collected from ctest's log so that they appear at the
# end of CI's output (a CI summary shows the start and the end of a long log, and a failure in
# the middle of 600 NUnit lines would be cut).
# Usage: tools/ci-failures.sh BUILD_DIR
log="${1:-build}/Testing/Temporary/LastTest.log"
[ -f "$log" ] || { echo "ci-failures: no ctest log at $log"; exit 0; }
echo "==== failures collected from $log ===="
awk '
/^[0-9]+\/[0-9]+ Testing: / { suite = $3; nlast = 0; nunit = (suite ~ /^nunit/) }
/^ *Failed [^ ]+ \[/ { n++; if (n <= 20) { print ""; print "[" suite "]"; print; show = 14 } else show = 0; next }
/Test host process crashed|The active test run was aborted/ { print ""; print "[" suite "] " $0; show = 8; next }
show > 0 && (/^ *(Passed|Failed|Skipped) / || /^<end of output>$/) { show = 0 }
show > 0 { print; show--; if ($0 ~ /Stack Trace:/) show = 4 }
{ last[nlast % 25] = $0; nlast++ }
/^Test Failed\.$/ && !nunit {
  print ""; print "[" suite "] failed; the end of its output:"
  for (i = (nlast > 25 ? nlast - 25 : 0); i < nlast; i++) print "  " last[i % 25]
}
END { if (n > 20) print "... and " n - 20 " more failed NUnit tests" }
' "$log"
