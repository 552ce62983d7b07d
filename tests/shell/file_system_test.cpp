// The file system rule (issue 12): directory stamps are trusted on local
// file systems only; everywhere else the index is a size cache.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <unistd.h>

#include <cstdint>

#include "file_system.hpp"
#include "unique_fd.hpp"

using pop3::shell::DirectoryStamps;
using pop3::shell::directory_stamps;

TEST_CASE("local file systems have exact directory stamps", "[shell][file_system]") {
    for (const std::uint64_t type :
         {std::uint64_t{EXT4_SUPER_MAGIC}, std::uint64_t{XFS_SUPER_MAGIC},
          std::uint64_t{BTRFS_SUPER_MAGIC}, std::uint64_t{TMPFS_MAGIC},
          std::uint64_t{RAMFS_MAGIC}, std::uint64_t{F2FS_SUPER_MAGIC},
          std::uint64_t{OVERLAYFS_SUPER_MAGIC}, std::uint64_t{0x2fc12fc1} /* zfs */}) {
        INFO("f_type 0x" << std::hex << type);
        CHECK(directory_stamps(type) == DirectoryStamps::exact);
    }
}

TEST_CASE("network, FUSE and cluster file systems have cached directory stamps",
          "[shell][file_system]") {
    for (const std::uint64_t type :
         {std::uint64_t{NFS_SUPER_MAGIC}, std::uint64_t{FUSE_SUPER_MAGIC}, // GlusterFS, sshfs
          std::uint64_t{CIFS_SUPER_MAGIC}, std::uint64_t{SMB2_SUPER_MAGIC},
          std::uint64_t{0x517B} /* smbfs */, std::uint64_t{CEPH_SUPER_MAGIC},
          std::uint64_t{V9FS_MAGIC}, std::uint64_t{AFS_SUPER_MAGIC},
          std::uint64_t{AFS_FS_MAGIC}, std::uint64_t{CODA_SUPER_MAGIC},
          std::uint64_t{0x01161970} /* gfs2 */, std::uint64_t{OCFS2_SUPER_MAGIC},
          std::uint64_t{0x0BD00BD0} /* lustre */, std::uint64_t{0x47504653} /* gpfs */}) {
        INFO("f_type 0x" << std::hex << type);
        CHECK(directory_stamps(type) == DirectoryStamps::cached);
    }
}

TEST_CASE("a file system type not known to be local is cached", "[shell][file_system]") {
    CHECK(directory_stamps(0) == DirectoryStamps::cached);
    CHECK(directory_stamps(0x12345678) == DirectoryStamps::cached);
}

TEST_CASE("a descriptor fstatfs cannot read is cached", "[shell][file_system]") {
    CHECK(pop3::shell::directory_stamps_of(-1) == DirectoryStamps::cached);
    // And one it can is classified by its type: /proc is no mail store.
    pop3::shell::UniqueFd proc{::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    REQUIRE(proc);
    CHECK(pop3::shell::directory_stamps_of(proc.get()) == DirectoryStamps::cached);
}
