#pragma once
// A run's activations as a table model (bytes, category, tensor, allocating op, module, holder, lifetime,
// reason) and
// the proxy the Activations tab filters and sorts through: rows are made only when drawn, so a session with
// a million storages opens without a million table items.

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <memory>
#include <string>
#include <vector>

#include "core/session_store.h"

namespace lowmem::ui {

class ActivationsModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    kBytes,
    kCategory,
    kTensor,
    kAllocatingOp,
    kModule,
    kHolder,
    kLifetime,
    kReason,
    kColumnCount
  };
  // The sort key of a cell (bytes, sequence numbers) under this role; its text under DisplayRole.
  static constexpr int kSortRole = Qt::UserRole;

  explicit ActivationsModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

  // `rows`: the run's activations (indices into profile.storages) in the order shown until the user sorts;
  // `tensors`: storageTensors of the run (empty when shapes were not recorded).
  void setRun(std::shared_ptr<const SessionRun> run, std::vector<size_t> rows, std::vector<int32_t> tensors);

  // The run's activations, largest first (ties by index): the table's first order, computed off the UI
  // thread so opening a large session does not sort through the proxy.
  static std::vector<size_t> activationsBySize(const SessionRun& run);
  // The storage a row shows, an index into the run's profile.storages.
  size_t storageAt(int row) const { return rows_[static_cast<size_t>(row)]; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  std::shared_ptr<const SessionRun> run_;
  std::vector<size_t> rows_;
  std::vector<int32_t> tensors_;
};

// Keeps the rows whose op, module, holder, lifetime or reason contains the filter text (any case) and, with a
// module set, whose module is that one or inside it.
class ActivationsFilter : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  explicit ActivationsFilter(QObject* parent = nullptr);
  void setText(const QString& text);
  void setModule(const QString& path);

 protected:
  bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

 private:
  QString text_;
  std::string module_;
};

}  // namespace lowmem::ui
