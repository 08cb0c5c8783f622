#pragma once
// A session's runs in linked views: summary, memory timeline (stacked by category, peak marked), the largest
// storages as bands, activations by module as an icicle, the module tree (type, inclusive/exclusive
// activation bytes, searchable), the activations table (filter, sort; selecting a row marks its lifetime on
// the timeline and the bands) and, when the session holds a patch comparison, the before/after view.
// Clicking a module in the icicle or the tree filters the bands and the table to it (Escape clears);
// Ctrl+1.. switch views, Ctrl+F searches the shown one. Read through the
// same SessionReader as the CLI; nothing is re-run. Reading and re-analysing a run happens on a worker
// thread (a progress bar shows it); the views fill when it is done.

#include <QFutureWatcher>
#include <QWidget>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/session_store.h"
#include "core/storage_bands.h"

class QComboBox;
class QHBoxLayout;
class QLabel;
class QLineEdit;
class QProgressBar;
class QTabWidget;
class QTableView;
class QTextBrowser;
class QTreeWidget;
class QChart;
class QChartView;
class QLineSeries;

namespace lowmem::ui {

class ActivationsModel;
class ActivationsFilter;
class IcicleView;
class StorageBandsView;

// The view's one connection to the file, opened (and checked) once: a SQLite connection serves one thread at
// a time, so the workers take turns.
struct SharedReader {
  explicit SharedReader(const std::string& path) : reader(path) {}
  std::mutex mutex;
  SessionReader reader;
};

// What the worker prepares for one run: the run, the timeline points the chart draws and, for each, the
// largest storages alive there (what hovering shows).
struct LoadedRun {
  std::shared_ptr<const SessionRun> run;
  std::vector<size_t> points;
  std::vector<std::vector<size_t>> largest;
  std::vector<size_t> activations;  // the activations table's rows, largest first
  StorageBands bands;
  std::vector<int32_t> tensors;  // storageTensors: each storage's shape and dtype, when recorded
  std::string error;             // one line, when the run could not be read
};

// The session's last stored comparison, read and rendered as text on the worker.
struct LoadedComparison {
  bool present = false;
  SessionRun baseline;
  SessionRun patched;
  std::string text;
  std::string error;
};

class SessionView : public QWidget {
  Q_OBJECT

 public:
  // Throws lowmem::InputError for a file that is not a readable session (checked here, before any worker), or
  // one that holds no run, validation or plan. A session of only plans or validations shows just their tabs.
  explicit SessionView(const std::string& path, QWidget* parent = nullptr);
  ~SessionView() override;

  const std::vector<std::string>& runLabels() const { return labels_; }
  // Starts reading run `index` on the worker; the views show it when it is read.
  void showRun(int index);
  // True while a run or the comparison is being read.
  bool loading() const;
  QString hoverTextAt(double msFromStart) const;
  QTabWidget* tabs() const { return tabs_; }
  // Restricts the bands, the table and the tree's selection to module `path` ("" clears), as a click in the
  // icicle or the tree does.
  void filterToModule(const QString& path);
  QString moduleFilter() const { return moduleFilter_; }
  // Shows the views' keyboard shortcuts, one per line.
  static QString shortcutsText();
  // The compare view's charts as a PNG; false when there is no comparison or the file cannot be written.
  bool exportComparisonChart(const QString& file) const;
  // Adds a "Diff" tab: the shown run against the first run of another session (two profiles no patch
  // joined: no prediction), read on a worker; diffShown tells when. Returns at once the error line, naming
  // the file, for a file that is not a readable session; "" when reading started.
  QString compareWith(const QString& otherSession);

 Q_SIGNALS:
  // A run's views are filled (or its error shown).
  void runShown(int index);
  // A Diff tab was added (error "") or could not be (the one-line error, naming the file).
  void diffShown(const QString& error);

 private:
  void runLoaded();
  void comparisonLoaded();
  QWidget* addComparisonTab(const QString& title, const QString& name, const QString& text,
                            const SessionRun& baseline, const SessionRun& patched);
  static bool exportChart(QWidget* charts, const QString& file);
  static bool renderChart(QWidget* charts, const QString& file);
  void fillSummary();
  void fillTimeline();
  void addPhaseLines(QChart* chart, int64_t t0, double top) const;
  // Clicking a legend entry hides that category (or line) and greys the entry; clicking again shows it.
  void makeLegendToggle(QChart* chart);
  void fillModules();
  void fillActivations();
  QHBoxLayout* buildTopBar();
  void buildRunViews();
  void connectViews();
  void addShortcuts();
  // A tab for each stored plan and validation: its text and chart.
  void addRecordTabs(const std::vector<nlohmann::json>& plans, const std::vector<Validation>& validations,
                     const std::string& path);
  void searchModules(const QString& text);
  void selectStorage(qint64 storage);
  void markLifetime(const QModelIndex& current);
  // The tooltip over the timeline at `timeNs` (trace clock): time, total, the five largest live storages.
  QString hoverText(double timeNs) const;
  void setBusy(const QString& what);

  std::string path_;
  std::shared_ptr<SharedReader> reader_;
  std::vector<std::string> labels_;
  LoadedRun loaded_;
  int requested_ = -1;  // the run the newest request asked for
  bool pendingRun_ = false;
  bool pendingComparison_ = false;
  QFutureWatcher<LoadedRun>* runWatcher_ = nullptr;
  QFutureWatcher<LoadedComparison>* comparisonWatcher_ = nullptr;
  QComboBox* runBox_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* stage_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QTextBrowser* summary_ = nullptr;
  QChartView* timeline_ = nullptr;
  QLineSeries* lifetime_ = nullptr;
  QTreeWidget* modules_ = nullptr;
  QLineEdit* moduleSearch_ = nullptr;
  IcicleView* icicle_ = nullptr;
  StorageBandsView* bands_ = nullptr;
  QLabel* filterLabel_ = nullptr;
  QString moduleFilter_;
  QWidget* firstRecordTab_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QTableView* activations_ = nullptr;
  ActivationsModel* activationsModel_ = nullptr;
  ActivationsFilter* activationsFilter_ = nullptr;
  QWidget* charts_ = nullptr;
};

}  // namespace lowmem::ui
