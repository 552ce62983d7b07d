// Faults a shared store makes that a local test directory cannot: the next
// open, rename or unlink of a given name fails with a given errno (ESTALE
// from NFS or GlusterFS for a file another host just removed or renamed).
// The test binary itself defines openat, renameat and unlinkat
// (fault_injection.cpp); the shell library's calls bind to those at link
// time and pass through to the C library unless a fault is armed.
#pragma once
#include <string>

namespace pop3::shell::testing {

enum class Call { open, rename, unlink };

// Arms `times` failures of `call` on a path whose last component starts
// with `prefix` (for rename: the old name's); they fire in order of calls.
void inject_fault(Call call, std::string prefix, int error, int times = 1);
// How many armed failures fired since the last clear_faults(), so a test
// can tell that the code under test reached the faulty call at all.
[[nodiscard]] int faults_fired();
// Disarms everything and resets the count.
void clear_faults();

// Arms a fault for the life of a scope (a failing REQUIRE leaves none armed).
class ScopedFault {
public:
    ScopedFault(Call call, std::string prefix, int error, int times = 1) {
        inject_fault(call, std::move(prefix), error, times);
    }
    ScopedFault(const ScopedFault&) = delete;
    ScopedFault& operator=(const ScopedFault&) = delete;
    ~ScopedFault() { clear_faults(); }
};

} // namespace pop3::shell::testing
