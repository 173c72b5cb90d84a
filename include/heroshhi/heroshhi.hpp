// heroshhi — the umbrella header: everything a host needs, except the test support in
// heroshhi/testing/.
#pragma once

#include <heroshhi/core/clock.hpp>
#include <heroshhi/core/decision.hpp>
#include <heroshhi/core/errors.hpp>
#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/phone_number.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/engine.hpp>
#include <heroshhi/messaging/audience.hpp>
#include <heroshhi/messaging/message_kind.hpp>
#include <heroshhi/messaging/send_gate.hpp>
#include <heroshhi/messaging/suppression_index.hpp>
#include <heroshhi/optout/event.hpp>
#include <heroshhi/optout/keyword_classifier.hpp>
#include <heroshhi/optout/registry.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/memory_store.hpp>
#include <heroshhi/storage/records.hpp>
#include <heroshhi/storage/sqlite_store.hpp>
#include <heroshhi/storage/store_set.hpp>
