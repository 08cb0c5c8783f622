#pragma once
// A session's runs in linked views: summary, memory timeline (stacked by category, peak marked), module tree
// (inclusive/exclusive activation bytes), activations table (filter, sort; selecting a row marks its lifetime
// on the timeline) and, when the session holds a patch comparison, the before/after view. Read through the
// same SessionReader as the CLI; nothing is re-run.

#include <QWidget>
#include <memory>
#include <string>
#include <vector>

#include "core/session_store.h"

class QComboBox;
class QLineEdit;
class QTabWidget;
class QTableWidget;
class QTextBrowser;
class QTreeWidget;
class QChartView;
class QLineSeries;

namespace lowmem::ui {

class SessionView : public QWidget {
  Q_OBJECT

 public:
  // Throws lowmem::InputError for a file that is not a readable session.
  explicit SessionView(const std::string& path, QWidget* parent = nullptr);

  const std::vector<std::string>& runLabels() const { return labels_; }
  void showRun(int index);
  QString hoverTextAt(double msFromStart) const {
    return run_.profile.timeline.empty()
               ? QString()
               : hoverText(msFromStart * 1e6 + static_cast<double>(run_.profile.timeline.front().timeNs));
  }
  QTabWidget* tabs() const { return tabs_; }
  // The compare view's charts as a PNG; false when there is no comparison or the file cannot be written.
  bool exportComparisonChart(const QString& file) const;

 private:
  void fillSummary();
  void fillTimeline();
  void fillModules();
  void fillActivations();
  void markLifetime(int row);
  // The tooltip over the timeline at `timeNs` (trace clock): time, total, the five largest live storages.
  QString hoverText(double timeNs) const;
  void addComparisonTab();

  std::string path_;
  std::unique_ptr<SessionReader> reader_;
  std::vector<std::string> labels_;
  SessionRun run_;
  QComboBox* runBox_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QTextBrowser* summary_ = nullptr;
  QChartView* timeline_ = nullptr;
  QLineSeries* lifetime_ = nullptr;
  QTreeWidget* modules_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QTableWidget* activations_ = nullptr;
  QWidget* charts_ = nullptr;
};

}  // namespace lowmem::ui
