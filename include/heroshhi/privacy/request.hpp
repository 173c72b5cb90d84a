// heroshhi — a data-subject request (access, erasure, ...) as the request register keeps it, and
// the deadlines the policy and the GDPR set for answering it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/ids.hpp>

namespace heroshhi::privacy {

/// The rights a request exercises (GDPR Articles 15-21).
enum class RequestType { access, portability, rectification, erasure, restriction, objection };

/// Where a request stands. received → acknowledged → completed or refused; extended is a flag.
enum class RequestStatus {
    received,      ///< logged, not yet acknowledged to the subject
    acknowledged,  ///< the subject was told it is being handled
    completed,     ///< done (closed)
    refused,       ///< refused with reasons, e.g. a legal hold (closed)
};

std::string_view to_string(RequestType t) noexcept;
std::string_view to_string(RequestStatus s) noexcept;
std::optional<RequestType> request_type_from_string(std::string_view s) noexcept;
std::optional<RequestStatus> request_status_from_string(std::string_view s) noexcept;

/// One request in a tenant's register.
struct SubjectRequest {
    TenantId tenant;
    std::string id;                       ///< the register's id (the host's ticket id, or generated)
    RequestType type = RequestType::access;
    /// Who it is about: "contact:<contact id>", or a phone pseudonym ("phone:<hex>",
    /// Engine::pseudonym) for a number with no contact. Never a plain number.
    std::string subject;
    Timestamp received_at{};
    Timestamp acknowledge_by{};           ///< acknowledge_deadline(received_at)
    Timestamp due_by{};                   ///< due_deadline(received_at, extended)
    bool extended = false;                ///< the two-month extension was taken
    RequestStatus status = RequestStatus::received;
    std::optional<UserId> handled_by;     ///< the last team member who moved it on
    std::optional<Timestamp> acknowledged_at;
    std::optional<Timestamp> closed_at;   ///< completed or refused

    bool open() const noexcept { return status == RequestStatus::received || status == RequestStatus::acknowledged; }
};

/// The subject string of a contact: "contact:" followed by its id.
std::string subject_of(const ContactId& contact);

/// Whether `subject` has one of the two accepted forms ("contact:<id>", "phone:<32 hex digits>").
bool valid_subject(std::string_view subject) noexcept;

/// The policy promises a response "within 2 business days": the end (23:59:59.999 UTC) of the
/// second Monday-to-Friday day after the day of receipt. Received Friday (or Saturday) → Tuesday;
/// received Monday → Wednesday. Public holidays are not known and not skipped. Pure.
Timestamp acknowledge_deadline(Timestamp received_at);

/// GDPR Art. 12(3): one month from receipt, extendable by two further months. The end (UTC) of
/// the same day of the month one month later (three with the extension), or of the month's last
/// day when it has no such day (31 January → 28/29 February); a deadline falling on a Saturday or
/// Sunday moves to the following Monday (Regulation 1182/71 Art. 3(4)). Pure.
Timestamp due_deadline(Timestamp received_at, bool extended);

/// Why an open request is overdue.
enum class Lateness {
    on_time,
    acknowledgement,  ///< still not acknowledged after acknowledge_by
    completion,       ///< still open after due_by
};

/// How late `r` is at `now`; closed requests are on time. Completion lateness wins. Pure.
Lateness lateness(const SubjectRequest& r, Timestamp now) noexcept;

}  // namespace heroshhi::privacy
