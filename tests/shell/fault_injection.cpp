// Link-time interposition of openat, renameat and unlinkat for the unit
// tests (see fault_injection.hpp). Single-threaded, like the tests.
#undef _FORTIFY_SOURCE // the fortified openat is an inline wrapper
#include "fault_injection.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <string_view>
#include <vector>

namespace pop3::shell::testing {
namespace {

struct Fault {
    Call call;
    std::string prefix;
    int error;
    int left;
};

std::vector<Fault>& faults() {
    static std::vector<Fault> armed;
    return armed;
}
int fired = 0;

} // namespace

namespace detail {

// True (errno set) when an armed fault matches this call on `path`.
bool should_fail(Call call, const char* path) {
    if (path == nullptr) return false;
    std::string_view name = path;
    if (const auto slash = name.rfind('/'); slash != std::string_view::npos)
        name.remove_prefix(slash + 1);
    for (Fault& fault : faults()) {
        if (fault.call == call && fault.left > 0 && name.starts_with(fault.prefix)) {
            --fault.left;
            ++fired;
            errno = fault.error;
            return true;
        }
    }
    return false;
}

// The C library's own definition of `symbol`.
template <class Fn> Fn libc(const char* symbol) {
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, symbol));
}

} // namespace detail

void inject_fault(Call call, std::string prefix, int error, int times) {
    faults().push_back({call, std::move(prefix), error, times});
}

int faults_fired() { return fired; }

void clear_faults() {
    faults().clear();
    fired = 0;
}

} // namespace pop3::shell::testing

using pop3::shell::testing::Call;
using pop3::shell::testing::detail::libc;
using pop3::shell::testing::detail::should_fail;

extern "C" int openat(int dir, const char* path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list args;
        va_start(args, flags);
        mode = static_cast<mode_t>(va_arg(args, unsigned int));
        va_end(args);
    }
    if (should_fail(Call::open, path)) return -1;
    static const auto real = libc<int (*)(int, const char*, int, ...)>("openat");
    return real(dir, path, flags, mode);
}

extern "C" int renameat(int old_dir, const char* old_path, int new_dir,
                        const char* new_path) noexcept {
    if (should_fail(Call::rename, old_path)) return -1;
    static const auto real =
        libc<int (*)(int, const char*, int, const char*)>("renameat");
    return real(old_dir, old_path, new_dir, new_path);
}

extern "C" int unlinkat(int dir, const char* path, int flags) noexcept {
    if (should_fail(Call::unlink, path)) return -1;
    static const auto real = libc<int (*)(int, const char*, int)>("unlinkat");
    return real(dir, path, flags);
}
