#pragma once
// The Bands tab: the step's largest storages as stacked bands over the memory events
// (core/storage_bands.h), PyTorch memory_viz's active-memory view. A band is coloured by its category;
// hovering names the storage (bytes, category, allocating op, module, phases, reason); clicking selects it;
// a module filter from the Flame tab dims the bands of other modules.

#include <QWidget>
#include <memory>
#include <vector>

#include "core/session_store.h"
#include "core/storage_bands.h"

namespace lowmem::ui {

class StorageBandsView : public QWidget {
  Q_OBJECT

 public:
  explicit StorageBandsView(QWidget* parent = nullptr);

  // `tensors`: storageTensors of the run (empty when shapes were not recorded).
  void setRun(std::shared_ptr<const SessionRun> run, StorageBands bands, std::vector<int32_t> tensors);
  const StorageBands& bands() const { return bands_; }
  // Storages outside `path` (a module path; "" shows all) are drawn faint.
  void setModuleFilter(const QString& path);
  // The band of storage `storage` (an index into the profile's storages) is outlined; -1 for none.
  void selectStorage(int64_t storage);
  int64_t selectedStorage() const { return selected_; }
  // The plot's coordinates of (timeline point, bytes): what the tests aim at.
  QPointF toWidget(double point, double bytes) const;
  QString toolTipAt(const QPointF& pos) const;

 Q_SIGNALS:
  void storageClicked(qint64 storage);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  bool event(QEvent* event) override;

 private:
  QRectF plot() const;
  double yMax() const;
  int bandAt(const QPointF& pos) const;
  void paintAxes(class QPainter& painter, const QRectF& area) const;
  void paintPhases(class QPainter& painter, const QRectF& area) const;

  std::shared_ptr<const SessionRun> run_;
  StorageBands bands_;
  std::vector<int32_t> tensors_;
  QString module_;
  int64_t selected_ = -1;
};

}  // namespace lowmem::ui
