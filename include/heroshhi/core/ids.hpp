// heroshhi — strong identifier types. A TenantId cannot be passed where a ContactId is expected,
// and none is made implicitly from a string.
#pragma once

#include <compare>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace heroshhi {

/// An opaque identifier tagged with what it identifies. Construction is explicit; the value is
/// whatever the host uses (a UUID, a database key). Empty ids are allowed to exist but every
/// store rejects them.
template <class Tag>
class Id {
public:
    Id() = default;
    explicit Id(std::string value) : value_(std::move(value)) {}
    explicit Id(std::string_view value) : value_(value) {}
    explicit Id(const char* value) : value_(value) {}

    const std::string& value() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }

    friend bool operator==(const Id&, const Id&) = default;
    friend auto operator<=>(const Id&, const Id&) = default;

private:
    std::string value_;
};

struct TenantTag {};
struct ContactTag {};
struct UserTag {};
struct MessageTag {};

using TenantId = Id<TenantTag>;    ///< a customer account (workspace); every call is scoped by one
using ContactId = Id<ContactTag>;  ///< a lead or contact inside a tenant
using UserId = Id<UserTag>;        ///< a member of a tenant's team
using MessageId = Id<MessageTag>;  ///< a message in the history (ours, not the provider's)

}  // namespace heroshhi

template <class Tag>
struct std::hash<heroshhi::Id<Tag>> {
    std::size_t operator()(const heroshhi::Id<Tag>& id) const noexcept {
        return std::hash<std::string>{}(id.value());
    }
};
