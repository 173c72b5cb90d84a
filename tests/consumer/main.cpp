// Proves that an installed heroshhi is usable through find_package: headers, library, and the
// dependencies its package config finds.
#include <heroshhi/heroshhi.hpp>
#include <heroshhi/testing/store_conformance.hpp>

#include <cstdio>

int main() {
    auto phone = heroshhi::PhoneNumber::parse("(415) 555-2671", "US");
    if (!phone || phone->e164() != "+14155552671") {
        std::puts("consumer: phone parsing failed");
        return 1;
    }
    heroshhi::storage::MemoryStore store;
    heroshhi::optout::OptOutEvent event{heroshhi::TenantId{"t"}, *phone};
    event.trigger = "STOP";
    if (!store.optouts().append(event) || event.sequence != 1) {
        std::puts("consumer: store failed");
        return 1;
    }
    const auto failures = heroshhi::testing::run_conformance_case(
        "tenant A never sees tenant B's rows", [] { return std::make_unique<heroshhi::storage::MemoryStore>(); });
    if (!failures.empty()) {
        std::puts(failures.front().c_str());
        return 1;
    }
    std::printf("consumer: %s parsed, opt-out stored, conformance case passed\n", phone->e164().c_str());
    return 0;
}
