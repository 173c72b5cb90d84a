#include <heroshhi/crypto/reencryption.hpp>

#include <algorithm>

namespace heroshhi::crypto {

Result<ReencryptionBatch> ReencryptionPass::run_batch(std::size_t batch_size) {
    batch_size = std::max<std::size_t>(batch_size, 1);
    ReencryptionBatch report;
    if (finished_) {
        report.finished = true;
        return report;
    }
    auto batch = source_->next_batch(cursor_, batch_size, cipher_->primary_key());
    if (!batch) return batch.error();
    for (const EncryptedField& field : *batch) {
        ++report.examined;
        const FieldName name{field.table, field.column};
        if (cipher_->is_current(field.ciphertext)) {
            ++report.current;
        } else {
            auto fresh = cipher_->reencrypt(field.tenant, name, field.row_id, field.ciphertext);
            if (!fresh) {
                report.failures.push_back({field.cursor, fresh.error()});
            } else {
                auto replaced = source_->replace(field, *fresh);
                if (!replaced) return replaced.error();  // cursor stays before this field
                if (*replaced) ++report.rewritten;
                else ++report.changed;
            }
        }
        cursor_ = field.cursor;
    }
    if (batch->size() < batch_size) finished_ = true;
    report.finished = finished_;
    return report;
}

}  // namespace heroshhi::crypto
