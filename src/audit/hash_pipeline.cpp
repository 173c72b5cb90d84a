#include "detail/hash_pipeline.hpp"

#include <cstring>
#include <system_error>

namespace heroshhi::audit::detail {

HashPipeline::HashPipeline(std::size_t batch_entries) : batch_entries_(batch_entries == 0 ? 1 : batch_entries), batches_(3) {
    for (Batch& b : batches_) {
        b.items.reserve(batch_entries_);
        b.input.reserve(batch_entries_ * 256);
    }
    current_ = &batches_[0];
    free_ = {&batches_[1], &batches_[2]};
}

HashPipeline::~HashPipeline() { stop(); }

void HashPipeline::stop() noexcept {
    if (!worker_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
    }
    failed_.store(true, std::memory_order_relaxed);  // an early exit: skip what is still queued
    changed_.notify_all();
    worker_.join();
}

void HashPipeline::add(const Hash& previous, const EntryView& e) {
    Item item;
    item.offset = current_->input.size();
    append_hash_input(current_->input, previous, e);
    item.size = current_->input.size() - item.offset;
    item.sequence = e.sequence;
    item.stored_ok = e.hash.size() == item.stored.size();
    if (item.stored_ok) std::memcpy(item.stored.data(), e.hash.data(), item.stored.size());
    if (current_->items.empty()) current_->first_index = added_;
    current_->items.push_back(item);
    ++added_;
    if (current_->items.size() == batch_entries_) submit();
}

std::optional<Mismatch> HashPipeline::check(Batch& batch, Sha256& sha) const {
    for (std::size_t i = 0; i < batch.items.size(); ++i) {
        const Item& item = batch.items[i];
        const Hash computed = sha.digest(std::string_view(batch.input).substr(item.offset, item.size));
        if (!item.stored_ok || computed != item.stored) return Mismatch{batch.first_index + i, item.sequence};
    }
    return std::nullopt;
}

void HashPipeline::submit() {
    if (inline_ || failed()) {  // no worker, or nothing after a mismatch matters: check (or drop) here
        if (!failed())
            if (auto bad = check(*current_, caller_sha_)) {
                mismatch_ = bad;
                failed_.store(true, std::memory_order_relaxed);
            }
        current_->items.clear();
        current_->input.clear();
        return;
    }
    if (!worker_.joinable()) {
        try {
            worker_ = std::thread([this] { work(); });
        } catch (const std::system_error&) {  // no thread to be had: hash on this one
            inline_ = true;
            submit();
            return;
        }
    }
    std::unique_lock lock(mutex_);
    ready_.push_back(current_);
    changed_.notify_all();
    changed_.wait(lock, [&] { return !free_.empty(); });
    current_ = free_.back();
    free_.pop_back();
    current_->items.clear();
    current_->input.clear();
}

void HashPipeline::work() noexcept {
    std::optional<Sha256> sha;
    for (;;) {
        Batch* batch = nullptr;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [&] { return !ready_.empty() || closing_; });
            if (ready_.empty()) return;
            batch = ready_.front();
            ready_.pop_front();
        }
        std::optional<Mismatch> bad;
        std::exception_ptr error;
        if (!failed()) {
            try {
                if (!sha) sha.emplace();
                bad = check(*batch, *sha);
            } catch (...) {
                error = std::current_exception();
            }
        }
        {
            std::lock_guard lock(mutex_);
            // Batches are checked in the order added, so the first mismatch found is the earliest.
            if (bad && !mismatch_) mismatch_ = bad;
            if (error && !error_) error_ = error;
            if (bad || error) failed_.store(true, std::memory_order_relaxed);
            free_.push_back(batch);
        }
        changed_.notify_all();
    }
}

std::optional<Mismatch> HashPipeline::finish() {
    if (worker_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            if (!current_->items.empty()) ready_.push_back(current_);
            closing_ = true;
        }
        changed_.notify_all();
        worker_.join();
        if (error_) std::rethrow_exception(error_);
        return mismatch_;
    }
    if (!failed() && !current_->items.empty())
        if (auto bad = check(*current_, caller_sha_)) mismatch_ = bad;
    current_->items.clear();
    current_->input.clear();
    return mismatch_;
}

}  // namespace heroshhi::audit::detail
