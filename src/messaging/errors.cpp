#include <heroshhi/messaging/errors.hpp>

#include <string>

namespace heroshhi::messaging {
namespace {

class MessagingCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "heroshhi.messaging"; }
    std::string message(int ev) const override {
        switch (static_cast<SendErrc>(ev)) {
            case SendErrc::invalid_message: return "invalid message";
        }
        return "unknown messaging error";
    }
};

}  // namespace

const std::error_category& messaging_category() noexcept {
    static const MessagingCategory c;
    return c;
}

}  // namespace heroshhi::messaging
