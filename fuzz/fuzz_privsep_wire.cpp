// The messages between pop3d's processes from arbitrary bytes (what a
// subverted login process could send the root monitor): no crash, and a
// message accepted is canonical (it encodes back to exactly the bytes).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/privsep_wire.hpp"

using namespace pop3::core::privsep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view wire(reinterpret_cast<const char*>(data), size);
    if (auto request = decode_request(wire)) {
        FUZZ_CHECK(encode(*request) == wire);
    } else {
        FUZZ_CHECK(!request.error().empty());
    }
    if (auto answer = decode_answer(wire)) {
        FUZZ_CHECK(encode(*answer) == wire);
    } else {
        FUZZ_CHECK(!answer.error().empty());
    }
    return 0;
}
