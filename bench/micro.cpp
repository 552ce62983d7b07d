// Micro-benchmarks of the hot paths (Google Benchmark): command parsing,
// the dot-stuffing transformer and size counter, LIST/UIDL rendering in the
// core, and Maildir snapshot construction in the shell.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "maildir.hpp"
#include "pop3/core/command.hpp"
#include "pop3/core/dotstuff.hpp"
#include "session_driver.hpp"

namespace {

namespace core = pop3::core;

// LF text like the fixtures: 3..14 words a line, 1 in 40 lines with a dot.
std::string sample_text(std::size_t size, bool crlf = false) {
    std::mt19937 rng(42);
    static const char* words[] = {"the", "mail", "server", "message",
                                  "maildir", "snapshot", "octet", "pop3"};
    std::string out;
    while (out.size() < size) {
        if (rng() % 40 == 0) out += '.';
        for (std::size_t n = 3 + rng() % 12; n > 0; --n) {
            out.append(words[rng() % 8]);
            if (n > 1) out.push_back(' ');
        }
        out += crlf ? "\r\n" : "\n";
    }
    return out;
}

void BM_ParseCommand(benchmark::State& state) {
    const std::string lines[] = {"RETR 12345", "LIST", "UIDL 7",
                                 "USER alice@example.org", "TOP 3 10",
                                 "DELE 99", "NOOP", "bogus command"};
    std::size_t i = 0;
    for (auto _ : state) {
        auto c = core::parse_command(lines[i++ % 8]);
        benchmark::DoNotOptimize(c);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseCommand);

// As the shell streams: 64 KiB chunks into a buffer sized once.
void dotstuff(benchmark::State& state, bool crlf) {
    const std::string text = sample_text(64 * 1024, crlf);
    std::string out(core::DotStuffer::max_output(text.size()), '\0');
    std::string last;
    for (auto _ : state) {
        core::DotStuffer s;
        benchmark::DoNotOptimize(s.feed(text, out.data()));
        last.clear();
        s.finish(last);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() *
                            static_cast<std::int64_t>(text.size()));
}
void BM_DotStuffLF(benchmark::State& state) { dotstuff(state, false); }
void BM_DotStuffCRLF(benchmark::State& state) { dotstuff(state, true); }
BENCHMARK(BM_DotStuffLF);
BENCHMARK(BM_DotStuffCRLF);

void BM_WireSizeCounter(benchmark::State& state) {
    const std::string text = sample_text(64 * 1024);
    for (auto _ : state) {
        core::WireSizeCounter c;
        c.feed(text);
        benchmark::DoNotOptimize(c.finish());
    }
    state.SetBytesProcessed(state.iterations() *
                            static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_WireSizeCounter);

// STAT, LIST and UIDL through the core for a mailbox of N messages.
void BM_ListUidl(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<std::uint64_t> sizes(n, 4321);
    pop3::test::SessionDriver d;
    d.login(sizes);
    std::size_t octets = 0;
    for (auto _ : state) {
        octets = d.line("LIST").size() + d.line("UIDL").size();
        benchmark::DoNotOptimize(octets);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.counters["wire_bytes"] = static_cast<double>(octets);
}
BENCHMARK(BM_ListUidl)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Maildir::open on N small messages, half named with ,S=/,W=.
void BM_SnapshotOpen(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() /
                         ("pop3d-micro-" + std::to_string(::getpid()));
    for (const char* sub : {"new", "cur", "tmp"}) fs::create_directories(dir / sub);
    const std::string body = "Subject: x\n\nhello\n.dot\n";
    for (std::size_t i = 0; i < n; ++i) {
        std::string name = std::to_string(1700000000 + i) + ".M" +
                           std::to_string(i) + "P1.host";
        if (i % 2 == 0)
            name += ",S=" + std::to_string(body.size()) + ",W=" +
                    std::to_string(body.size() + 4);
        std::ofstream(dir / (i % 2 ? "cur" : "new") / (i % 2 ? name + ":2,S" : name))
            << body;
    }
    for (auto _ : state) {
        auto box = pop3::shell::Maildir::open(
            pop3::shell::UniqueFd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)},
            dir.string());
        if (!box || box->size() != n) state.SkipWithError("open failed");
        benchmark::DoNotOptimize(box);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    fs::remove_all(dir);
}
BENCHMARK(BM_SnapshotOpen)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
