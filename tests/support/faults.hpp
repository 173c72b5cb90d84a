// Test support for fault injection: a whole SQLite file as text (to prove nothing stored changed)
// and a file-size limit standing in for a full disk.
#pragma once

#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/resource.h>

#include <csignal>
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

}  // namespace heroshhi::test_support
