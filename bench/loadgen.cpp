// The load driver: POP3 scenarios against one server on a loopback port,
// and a raw sender that answers the same protocol from memory (the
// baseline that shows the driver is not the bottleneck).
//
//   loadgen client --port P --user U --pass W --scenario S [options]
//       S = session | retrieve-all | huge | concurrent
//       --count N     sessions to run (session; default 200)
//       --seconds T   time bound for every scenario (default 20)
//       --clients C   parallel clients (concurrent; default 32)
//       --distinct    concurrent: client i logs in as U with its '*'
//                     replaced by i (0..C-1), each its own mailbox
//       --preauth     the server greets with "+OK logged in." and needs no
//                     USER/PASS (Courier's pop3d run without its login)
//       --rss         after RETR, read VmHWM of the server process that
//                     holds the other end of the connection (/proc)
//   loadgen raw --port P --maildir DIR
//       serves DIR's messages, pre-stuffed in memory, to any USER/PASS;
//       one thread per connection.
//
// Prints one JSON object per run on stdout. Only loopback addresses; every
// loop is bounded by a count and by --seconds.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "loadgen: %s\n", why.c_str());
    std::exit(1);
}

// --- client connection ---------------------------------------------------

class Conn {
public:
    explicit Conn(int port) : buf_(1 << 20) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{30, 0}; // no wait is unbounded
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Conn() { ::close(fd_); }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    bool ok() const { return ok_; }
    int fd() const { return fd_; }

    bool send(std::string_view s) {
        while (!s.empty()) {
            ssize_t n = ::write(fd_, s.data(), s.size());
            if (n <= 0) return ok_ = false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // One status line without its CRLF; false on EOF/timeout.
    bool line(std::string& out) {
        for (;;) {
            auto* nl = static_cast<char*>(
                std::memchr(buf_.data() + begin_, '\n', end_ - begin_));
            if (nl) {
                std::size_t len = static_cast<std::size_t>(nl - buf_.data()) - begin_;
                out.assign(buf_.data() + begin_, len);
                if (!out.empty() && out.back() == '\r') out.pop_back();
                begin_ += len + 1;
                return true;
            }
            if (!fill()) return false;
        }
    }

    // A status line that must start with "+OK".
    bool ok_line() {
        std::string s;
        return line(s) && s.compare(0, 3, "+OK") == 0;
    }

    // A multi-line body up to ".\r\n": returns the un-stuffed octet count
    // (CRLF kept, as LIST counts); `lines` gets each line when non-null.
    std::optional<std::uint64_t> body(std::vector<std::string>* lines) {
        std::uint64_t octets = 0;
        for (;;) {
            char* p = buf_.data() + begin_;
            char* end = buf_.data() + end_;
            while (p < end) {
                auto* nl = static_cast<char*>(
                    std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
                if (!nl) break;
                std::size_t len = static_cast<std::size_t>(nl - p) + 1;
                if (*p == '.') {
                    if (len == 3 && p[1] == '\r') {
                        begin_ = static_cast<std::size_t>(nl + 1 - buf_.data());
                        return octets;
                    }
                    ++p;
                    --len;
                }
                octets += len;
                if (lines) lines->emplace_back(p, len - 2);
                p = nl + 1;
            }
            begin_ = static_cast<std::size_t>(p - buf_.data());
            if (!fill()) return std::nullopt;
        }
    }

private:
    bool fill() {
        if (begin_ > 0) {
            std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
        ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
        if (n <= 0) return ok_ = false;
        end_ += static_cast<std::size_t>(n);
        return true;
    }

    int fd_;
    bool ok_ = false;
    std::vector<char> buf_;
    std::size_t begin_ = 0, end_ = 0;
};

struct Args {
    int port = 0;
    std::string user, pass, scenario, maildir;
    int count = 200;
    double seconds = 20;
    int clients = 32;
    bool preauth = false;
    bool rss = false;
    bool distinct = false;
};

bool login(Conn& c, const Args& a) {
    if (!c.ok()) return false;
    if (a.preauth) return c.ok_line();
    return c.ok_line() && c.send("USER " + a.user + "\r\n") && c.ok_line() &&
           c.send("PASS " + a.pass + "\r\n") && c.ok_line();
}

// connect, login, STAT, LIST, UIDL, QUIT; the message count or nullopt.
std::optional<std::size_t> one_session(const Args& a) {
    Conn c(a.port);
    if (!login(c, a)) return std::nullopt;
    std::vector<std::string> list;
    if (!(c.send("STAT\r\n") && c.ok_line() && c.send("LIST\r\n") &&
          c.ok_line() && c.body(&list) && c.send("UIDL\r\n") && c.ok_line() &&
          c.body(nullptr) && c.send("QUIT\r\n") && c.ok_line()))
        return std::nullopt;
    return list.size();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

int run_sessions(const Args& a) {
    std::vector<double> lat;
    auto t0 = Clock::now();
    std::size_t messages = 0, failed = 0;
    for (int i = 0; i < a.count && seconds_since(t0) < a.seconds; ++i) {
        auto s0 = Clock::now();
        auto n = one_session(a);
        if (!n) { ++failed; continue; }
        messages = *n;
        lat.push_back(seconds_since(s0) * 1000);
    }
    double wall = seconds_since(t0);
    std::printf("{\"scenario\":\"session\",\"sessions\":%zu,\"failed\":%zu,"
                "\"messages\":%zu,\"seconds\":%.4f,\"sessions_per_s\":%.2f,"
                "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"first_ms\":%.3f}\n",
                lat.size(), failed, messages, wall,
                static_cast<double>(lat.size()) / wall, percentile(lat, 0.5),
                percentile(lat, 0.99), lat.empty() ? 0.0 : lat.front());
    return failed == 0 ? 0 : 1;
}

int run_concurrent(const Args& a) {
    std::mutex m;
    std::vector<double> lat;
    std::atomic<std::size_t> failed{0};
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    const int per_client_cap = std::max(1, a.count);
    for (int t = 0; t < a.clients; ++t) {
        Args mine_args = a;
        if (a.distinct) {
            const auto star = a.user.find('*');
            if (star == std::string::npos) die("--distinct needs a '*' in --user");
            mine_args.user.replace(star, 1, std::to_string(t));
        }
        threads.emplace_back([&, mine_args] {
            std::vector<double> mine;
            for (int i = 0; i < per_client_cap && seconds_since(t0) < a.seconds; ++i) {
                auto s0 = Clock::now();
                if (!one_session(mine_args)) { ++failed; continue; }
                mine.push_back(seconds_since(s0) * 1000);
            }
            std::lock_guard lock(m);
            lat.insert(lat.end(), mine.begin(), mine.end());
        });
    }
    for (auto& t : threads) t.join();
    double wall = seconds_since(t0);
    std::printf("{\"scenario\":\"concurrent\",\"clients\":%d,\"sessions\":%zu,"
                "\"failed\":%zu,\"seconds\":%.4f,\"sessions_per_s\":%.2f,"
                "\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
                a.clients, lat.size(), failed.load(), wall,
                static_cast<double>(lat.size()) / wall, percentile(lat, 0.5),
                percentile(lat, 0.99));
    return failed == 0 ? 0 : 1;
}

// The peak RSS (VmHWM, KiB) of the process(es) holding the server end of
// `fd`'s connection: found through /proc/net/tcp and /proc/*/fd.
long server_hwm_kib(int fd, int server_port) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    const unsigned client_port = ntohs(local.sin_port);
    std::ifstream tcp("/proc/net/tcp");
    std::string line, inode;
    std::getline(tcp, line);
    while (std::getline(tcp, line)) {
        std::istringstream in(line);
        std::string sl, loc, rem, st, q, tm, retr, uid, to, ino;
        in >> sl >> loc >> rem >> st >> q >> tm >> retr >> uid >> to >> ino;
        auto port_of = [](const std::string& addr) {
            return std::stoul(addr.substr(addr.find(':') + 1), nullptr, 16);
        };
        if (port_of(loc) == static_cast<unsigned>(server_port) &&
            port_of(rem) == client_port) {
            inode = ino;
            break;
        }
    }
    if (inode.empty()) return -1;
    const std::string want = "socket:[" + inode + "]";
    long best = -1;
    DIR* proc = ::opendir("/proc");
    int scanned = 0;
    while (dirent* e = ::readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        if (++scanned > 100000) break;
        std::string fddir = std::string("/proc/") + e->d_name + "/fd";
        DIR* fds = ::opendir(fddir.c_str());
        if (!fds) continue;
        bool holds = false;
        while (dirent* f = ::readdir(fds)) {
            char target[64];
            std::string p = fddir + "/" + f->d_name;
            ssize_t n = ::readlink(p.c_str(), target, sizeof target - 1);
            if (n > 0 && want == std::string_view(target, static_cast<std::size_t>(n))) {
                holds = true;
                break;
            }
        }
        ::closedir(fds);
        if (!holds || std::to_string(::getpid()) == e->d_name) continue;
        std::ifstream status(std::string("/proc/") + e->d_name + "/status");
        while (std::getline(status, line))
            if (line.compare(0, 6, "VmHWM:") == 0)
                best = std::max(best, std::atol(line.c_str() + 6));
    }
    ::closedir(proc);
    return best;
}

// login, LIST, RETR of every message with up to `window` commands in flight
// (pipelined), every size checked against LIST, QUIT.
int run_retrieve(const Args& a, bool huge) {
    auto t0 = Clock::now();
    Conn c(a.port);
    if (!login(c, a)) die("login failed");
    std::vector<std::string> list;
    if (!(c.send("LIST\r\n") && c.ok_line() && c.body(&list))) die("LIST failed");
    std::vector<std::uint64_t> sizes;
    for (auto& l : list) sizes.push_back(std::strtoull(l.c_str() + l.find(' ') + 1, nullptr, 10));
    auto r0 = Clock::now();
    const std::size_t window = 32;
    std::size_t sent = 0, done = 0, mismatches = 0;
    std::uint64_t octets = 0;
    while (done < sizes.size() && seconds_since(t0) < a.seconds) {
        std::string cmds;
        while (sent < sizes.size() && sent - done < window)
            cmds += "RETR " + std::to_string(++sent) + "\r\n";
        if (!cmds.empty() && !c.send(cmds)) die("send failed");
        if (!c.ok_line()) die("RETR " + std::to_string(done + 1) + " failed");
        auto got = c.body(nullptr);
        if (!got) die("RETR body cut short");
        if (*got != sizes[done]) ++mismatches;
        octets += *got;
        ++done;
    }
    double secs = seconds_since(r0);
    long hwm = a.rss ? server_hwm_kib(c.fd(), a.port) : -1;
    // finish the in-flight commands so QUIT is answered in order
    while (done < sent) {
        if (!c.ok_line() || !c.body(nullptr)) break;
        ++done;
    }
    c.send("QUIT\r\n");
    c.ok_line();
    std::printf("{\"scenario\":\"%s\",\"messages\":%zu,\"retrieved\":%zu,"
                "\"size_mismatches\":%zu,\"octets\":%llu,\"seconds\":%.4f,"
                "\"mb_per_s\":%.2f,\"server_hwm_kib\":%ld}\n",
                huge ? "huge" : "retrieve-all", sizes.size(), done, mismatches,
                static_cast<unsigned long long>(octets), secs,
                static_cast<double>(octets) / 1e6 / secs, hwm);
    return mismatches == 0 && done == sizes.size() ? 0 : 1;
}

// --- the raw sender --------------------------------------------------------

struct RawMessage {
    std::string wire; // stuffed, ends with ".\r\n"
    std::uint64_t size;
    std::string uidl;
};

std::vector<RawMessage> load_maildir(const std::string& dir) {
    std::vector<std::pair<std::string, std::string>> files;
    for (const char* sub : {"new", "cur"}) {
        std::string d = dir + "/" + sub;
        DIR* dp = ::opendir(d.c_str());
        if (!dp) continue;
        while (dirent* e = ::readdir(dp))
            if (e->d_name[0] != '.') files.emplace_back(d + "/" + e->d_name, e->d_name);
        ::closedir(dp);
    }
    std::sort(files.begin(), files.end());
    std::vector<RawMessage> out;
    for (auto& [path, name] : files) {
        std::ifstream f(path, std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(f)), {});
        RawMessage m;
        m.uidl = name.substr(0, name.find_first_of(":,"));
        m.wire.reserve(data.size() + data.size() / 30 + 8);
        bool bol = true;
        std::uint64_t size = 0;
        for (char ch : data) {
            if (bol && ch == '.') m.wire += '.';
            if (ch == '\n') { m.wire += "\r\n"; size += 2; bol = true; continue; }
            m.wire += ch;
            ++size;
            bol = false;
        }
        if (!bol) { m.wire += "\r\n"; size += 2; }
        m.wire += ".\r\n";
        m.size = size;
        out.push_back(std::move(m));
    }
    return out;
}

void serve_raw(int fd, const std::vector<RawMessage>& box, std::string_view list,
               std::string_view uidl, std::uint64_t total) {
    std::string in;
    char buf[4096];
    auto put = [&](std::string_view s) {
        while (!s.empty()) {
            ssize_t n = ::write(fd, s.data(), s.size());
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    };
    if (!put("+OK raw sender ready\r\n")) return;
    const auto t0 = Clock::now();
    for (int commands = 0; commands < 10'000'000 && seconds_since(t0) < 600;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return;
        in.append(buf, static_cast<std::size_t>(n));
        std::string out;
        std::size_t nl;
        while ((nl = in.find('\n')) != std::string::npos) {
            std::string cmd = in.substr(0, nl);
            in.erase(0, nl + 1);
            ++commands;
            if (cmd.compare(0, 4, "QUIT") == 0) { put(out + "+OK bye\r\n"); return; }
            if (cmd.compare(0, 4, "STAT") == 0)
                out += "+OK " + std::to_string(box.size()) + " " + std::to_string(total) + "\r\n";
            else if (cmd.compare(0, 4, "LIST") == 0) { out += "+OK\r\n"; out += list; }
            else if (cmd.compare(0, 4, "UIDL") == 0) { out += "+OK\r\n"; out += uidl; }
            else if (cmd.compare(0, 4, "RETR") == 0) {
                std::size_t i = std::strtoul(cmd.c_str() + 5, nullptr, 10);
                if (i < 1 || i > box.size()) { out += "-ERR no such message\r\n"; continue; }
                out += "+OK\r\n";
                if (!put(out)) return;
                out.clear();
                if (!put(box[i - 1].wire)) return;
            } else out += "+OK\r\n";
        }
        if (!out.empty() && !put(out)) return;
    }
}

int run_raw(const Args& a) {
    auto box = load_maildir(a.maildir);
    std::string list, uidl;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < box.size(); ++i) {
        list += std::to_string(i + 1) + " " + std::to_string(box[i].size) + "\r\n";
        uidl += std::to_string(i + 1) + " " + box[i].uidl + "\r\n";
        total += box[i].size;
    }
    list += ".\r\n";
    uidl += ".\r\n";
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(a.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(s, 256) != 0)
        die("cannot listen on 127.0.0.1:" + std::to_string(a.port));
    std::fprintf(stderr, "raw sender: %zu messages on port %d\n", box.size(), a.port);
    const auto t0 = Clock::now();
    // Bounded: at most a.count connections and a.seconds of life.
    for (int served = 0; served < a.count && seconds_since(t0) < a.seconds; ++served) {
        int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::thread([c, &box, &list, &uidl, total] {
            serve_raw(c, box, list, uidl, total);
            ::close(c);
        }).detach();
    }
    return 0;
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        auto v = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value for " + k);
            return argv[++i];
        };
        if (k == "--port") a.port = std::stoi(v());
        else if (k == "--user") a.user = v();
        else if (k == "--pass") a.pass = v();
        else if (k == "--scenario") a.scenario = v();
        else if (k == "--count") a.count = std::stoi(v());
        else if (k == "--seconds") a.seconds = std::stod(v());
        else if (k == "--clients") a.clients = std::stoi(v());
        else if (k == "--maildir") a.maildir = v();
        else if (k == "--preauth") a.preauth = true;
        else if (k == "--rss") a.rss = true;
        else if (k == "--distinct") a.distinct = true;
        else die("unknown option " + k);
    }
    if (a.port <= 0 || a.port > 65535) die("--port is required");
    return a;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) die("usage: loadgen client|raw --port P ...");
    std::string mode = argv[1];
    Args a = parse(argc, argv);
    if (mode == "raw") return run_raw(a);
    if (mode != "client") die("unknown mode " + mode);
    if (a.scenario == "session") return run_sessions(a);
    if (a.scenario == "concurrent") return run_concurrent(a);
    if (a.scenario == "retrieve-all") return run_retrieve(a, false);
    if (a.scenario == "huge") return run_retrieve(a, true);
    die("unknown scenario " + a.scenario);
}
