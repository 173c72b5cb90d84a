// Test support for fault injection: a whole SQLite file as text (to prove nothing stored changed),
// a file-size limit standing in for a full disk, and, where mounting is permitted (root with
// CAP_SYS_ADMIN), a tiny tmpfs that runs out of space and a read-only bind mount.
#pragma once

#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "raw_db.hpp"

namespace heroshhi::test_support {

/// Every row of every table, as text: what "nothing already stored changed" compares.
inline std::string dump(const std::string& path) {
    RawDb db(path, SQLITE_OPEN_READONLY);
    std::vector<std::string> tables;
    sqlite3_stmt* list = nullptr;
    REQUIRE(sqlite3_prepare_v2(db.get(), "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1, &list,
                               nullptr) == SQLITE_OK);
    while (sqlite3_step(list) == SQLITE_ROW) tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(list, 0)));
    sqlite3_finalize(list);
    std::ostringstream out;
    for (const std::string& table : tables) {
        out << "table " << table << "\n";
        sqlite3_stmt* rows = nullptr;
        REQUIRE(sqlite3_prepare_v2(db.get(), ("SELECT * FROM \"" + table + "\" ORDER BY 1").c_str(), -1, &rows, nullptr) ==
                SQLITE_OK);
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(rows); ++i) {
                const auto* text = sqlite3_column_text(rows, i);
                out << (text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(rows, i)))
                             : "NULL")
                    << "|";
            }
            out << "\n";
        }
        sqlite3_finalize(rows);
    }
    return out.str();
}

/// Sets the soft RLIMIT_FSIZE to `bytes` (SIGXFSZ ignored, so a write past it fails with EFBIG
/// instead of killing the process) and restores the old limit when it goes out of scope.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t bytes) {
        REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
        std::cout.flush();
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit limited = saved_;
        limited.rlim_cur = bytes;
        REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
    }
    ~FileSizeLimit() {
        setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, old_handler_);
        // Output to a file (ctest -O, a redirect) failed meanwhile: let the streams write again.
        std::cout.clear();
        std::cerr.clear();
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;

private:
    rlimit saved_{};
    void (*old_handler_)(int) = SIG_DFL;
};

/// A directory with a tmpfs of `size` (e.g. "4m") mounted on it, unmounted at the end; mounted()
/// is false where mounting is not permitted (an unprivileged container), and the caller skips.
/// fill() takes every free byte with a filler file (the disk is full), free() gives them back.
class TinyFilesystem {
public:
    explicit TinyFilesystem(const char* size) {
        char pattern[] = "/tmp/heroshhi-tinyfs-XXXXXX";
        if (mkdtemp(pattern) == nullptr) return;
        dir_ = pattern;
        mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, ("size=" + std::string(size)).c_str()) == 0;
    }
    ~TinyFilesystem() {
        for (const std::string& m : binds_) umount2(m.c_str(), MNT_DETACH);
        if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
        std::error_code ignored;
        for (const std::string& m : binds_) std::filesystem::remove(m, ignored);
        if (!dir_.empty()) std::filesystem::remove(dir_, ignored);
    }
    TinyFilesystem(const TinyFilesystem&) = delete;
    TinyFilesystem& operator=(const TinyFilesystem&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& dir() const { return dir_; }

    void fill() {
        std::FILE* f = std::fopen((dir_ + "/filler").c_str(), "ab");
        REQUIRE(f != nullptr);
        std::setvbuf(f, nullptr, _IONBF, 0);
        static const char block[4096] = {};
        while (std::fwrite(block, 1, sizeof block, f) == sizeof block) {}
        while (std::fwrite(block, 1, 1, f) == 1) {}
        std::fclose(f);
    }
    void free() { std::filesystem::remove(dir_ + "/filler"); }

    /// The same files seen through a read-only bind mount; "" if it cannot be made.
    std::string read_only_view() {
        const std::string view = dir_ + "-ro";
        std::error_code ignored;
        std::filesystem::create_directory(view, ignored);
        if (mount(dir_.c_str(), view.c_str(), nullptr, MS_BIND, nullptr) != 0) return {};
        binds_.push_back(view);
        if (mount(nullptr, view.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) return {};
        return view;
    }

private:
    std::string dir_;
    bool mounted_ = false;
    std::vector<std::string> binds_;
};

}  // namespace heroshhi::test_support
