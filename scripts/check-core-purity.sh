#!/bin/sh
# Fails if core/ reaches for I/O: forbidden headers or calls in the sources,
# or undefined I/O symbols in the built library. Usage: check-core-purity.sh SRC LIB
set -eu
src=${1:?source dir}; lib=${2:?libpop3_core.a}
status=0
headers='<(fstream|iostream|cstdio|stdio\.h|unistd\.h|fcntl\.h|dirent\.h|filesystem|chrono|ctime|time\.h|random|thread|mutex|csignal|signal\.h|sys/[a-z_]+\.h|netinet/[a-z_]+\.h|arpa/[a-z_]+\.h)>'
if grep -rnE "#include *$headers" "$src/core"; then
    echo "core purity: I/O, clock, random or threading header included under core/" >&2
    status=1
fi
if grep -rnE '\b(getenv|setenv|std::cout|std::cerr|printf|fopen|rand|srand|time\(|system\()' \
       "$src/core" --include='*.cpp' --include='*.hpp'; then
    echo "core purity: I/O, environment or randomness call under core/" >&2
    status=1
fi
# The library itself must not import any system-call wrapper.
bad=$(nm -u --format=posix "$lib" 2>/dev/null | awk '{print $1}' |
      grep -E '^(open|openat|read|write|close|fopen|fwrite|fread|getenv|secure_getenv|time|clock_gettime|gettimeofday|socket|send|recv|rename|unlink|stat|fstat|opendir|readdir|getrandom|rand|srand|printf|puts|syscall)(64)?$' || true)
if [ -n "$bad" ]; then
    echo "core purity: libpop3_core imports I/O symbols:" $bad >&2
    status=1
fi
[ $status -eq 0 ] && echo "core purity: ok (no I/O headers, calls or symbols in core/)"
exit $status
