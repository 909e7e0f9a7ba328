# Sourced by the benchmark scripts: sets $java to a JDK 25+ java (JAVA_HOME, then /usr/lib/jvm),
# read from each JDK's release file, or stops with a message naming the caller.
java=""
for d in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
  if [ -x "$d/bin/java" ] && [ "$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$d/release" 2>/dev/null)" -ge 25 ] 2>/dev/null; then
    java="$d/bin/java"; break
  fi
done
[ -n "$java" ] || { echo "$(basename "$0"): no JDK 25 found (JAVA_HOME, /usr/lib/jvm)" >&2; exit 2; }
