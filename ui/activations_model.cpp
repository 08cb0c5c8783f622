#include "ui/activations_model.h"

#include "core/format.h"
#include "core/module_path.h"
#include "core/peak_breakdown.h"
#include "core/storage_tensors.h"

namespace lowmem::ui {

std::vector<size_t> ActivationsModel::activationsBySize(const SessionRun& run) {
  const auto& storages = run.profile.storages;
  std::vector<size_t> rows;
  for (size_t i = 0; i < storages.size(); ++i) {
    if (storages[i].category == Category::kActivation) rows.push_back(i);
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [&](size_t a, size_t b) { return storages[a].bytes > storages[b].bytes; });
  return rows;
}

void ActivationsModel::setRun(std::shared_ptr<const SessionRun> run, std::vector<size_t> rows,
                              std::vector<int32_t> tensors) {
  beginResetModel();
  run_ = std::move(run);
  rows_ = std::move(rows);
  tensors_ = std::move(tensors);
  endResetModel();
}

int ActivationsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int ActivationsModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumnCount;
}

QVariant ActivationsModel::data(const QModelIndex& index, int role) const {
  if (!run_ || !index.isValid() || (role != Qt::DisplayRole && role != kSortRole)) return {};
  const auto& s = run_->profile.storages[storageAt(index.row())];
  const auto& t = run_->trace;
  const auto text = [](const std::string& v) { return QVariant(QString::fromStdString(v)); };
  switch (index.column()) {
    case kBytes:
      return role == kSortRole ? QVariant(static_cast<qlonglong>(s.bytes)) : text(formatBytes(s.bytes));
    case kCategory:
      return QString(categoryName(s.category));
    case kTensor: {
      const size_t i = storageAt(index.row());
      return text(i < tensors_.size() ? tensorText(t, tensors_[i]) : std::string());
    }
    case kAllocatingOp:
      // The op that asked for the memory, not the aten::empty it called (as the reports charge it).
      return text(t.opName(requestingOp(t, s.allocOp)));
    case kModule:
      return text(t.str(s.module));
    case kHolder:
      return text(t.opName(s.holderOp));
    case kLifetime:
      if (role == kSortRole) return static_cast<qlonglong>(s.allocSeq);
      return QString("%1 .. %2")
          .arg(s.allocSeq)
          .arg(s.freeSeq < 0 ? QString("end") : QString::number(s.freeSeq));
    case kReason:
      return text(run_->profile.reasonOf(s));
  }
  return {};
}

QVariant ActivationsModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* const names[kColumnCount] = {"bytes",  "category", "tensor",         "allocating op",
                                                  "module", "holder",   "lifetime (seq)", "reason"};
  return section >= 0 && section < kColumnCount ? QString(names[section]) : QVariant();
}

ActivationsFilter::ActivationsFilter(QObject* parent) : QSortFilterProxyModel(parent) {
  setSortRole(ActivationsModel::kSortRole);
  setFilterCaseSensitivity(Qt::CaseInsensitive);
}

void ActivationsFilter::setText(const QString& text) {
  text_ = text;
  invalidateFilter();
}

void ActivationsFilter::setModule(const QString& path) {
  module_ = path.toStdString();
  invalidateFilter();
}

bool ActivationsFilter::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
  if (!module_.empty()) {
    const auto module = sourceModel()->index(sourceRow, ActivationsModel::kModule, sourceParent).data();
    if (!isWithin(module.toString().toStdString(), module_)) return false;
  }
  const QString& text = text_;
  if (text.isEmpty()) return true;
  for (int c = ActivationsModel::kAllocatingOp; c < ActivationsModel::kColumnCount; ++c) {
    const auto value = sourceModel()->index(sourceRow, c, sourceParent).data().toString();
    if (value.contains(text, Qt::CaseInsensitive)) return true;
  }
  return false;
}

}  // namespace lowmem::ui
