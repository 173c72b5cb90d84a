// heroshhi — the storage conformance suite: the behaviour every implementation of the storage
// ports must show. The shipped stores run it in ctest; a host runs it against its own ports from
// whatever test framework it uses.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::testing {

/// Makes a fresh, empty store for one case. Called once per case.
using StoreFactory = std::function<std::unique_ptr<storage::StoreSet>()>;

/// The names of every case, in a stable order ("contacts round-trip every field", ...).
std::vector<std::string> conformance_case_names();

/// Runs one case against a store made by `make`. Returns what went wrong, one sentence per failed
/// expectation; empty means the store conforms. An unknown name is reported as a failure.
std::vector<std::string> run_conformance_case(std::string_view name, const StoreFactory& make);

}  // namespace heroshhi::testing
