// heroshhi — error codes of the messaging area (the Messenger).
#pragma once

#include <system_error>

namespace heroshhi::messaging {

/// Category name: "heroshhi.messaging".
enum class SendErrc {
    invalid_message = 1,  ///< the message cannot be sent as given: empty or over-long text, a template
                          ///< without a name or language, a kind that does not match the content
};

const std::error_category& messaging_category() noexcept;
inline std::error_code make_error_code(SendErrc e) noexcept { return {static_cast<int>(e), messaging_category()}; }

}  // namespace heroshhi::messaging

template <> struct std::is_error_code_enum<heroshhi::messaging::SendErrc> : std::true_type {};
