// The PROXY protocol header from arbitrary bytes (what reaches pop3d from a
// trusted balancer's address, or from anyone posing as it): no crash; a
// header is whole (its length within the bytes and the limit) and the same
// when parsed from exactly its own octets; "incomplete" always asks for
// more than it has; the verdict never depends on what follows the header.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pop3/core/proxy_header.hpp"

using namespace pop3::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    auto r = parse_proxy_header(bytes);
    if (!r) {
        FUZZ_CHECK(!r.error().empty());
        return 0;
    }
    if (auto* more = std::get_if<ProxyIncomplete>(&*r)) {
        FUZZ_CHECK(more->need > size);
        FUZZ_CHECK(more->need <= k_max_proxy_header);
        return 0;
    }
    const auto& h = std::get<ProxyHeader>(*r);
    FUZZ_CHECK(h.length > 0 && h.length <= size && h.length <= k_max_proxy_header);
    FUZZ_CHECK(h.version == 1 || h.version == 2);
    FUZZ_CHECK(!h.local || !h.source);
    auto again = parse_proxy_header(bytes.substr(0, h.length));
    FUZZ_CHECK(again && std::holds_alternative<ProxyHeader>(*again));
    FUZZ_CHECK(std::get<ProxyHeader>(*again) == h);
    return 0;
}
