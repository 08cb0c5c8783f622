#include "ui/session_view.h"

#include <QAreaSeries>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QComboBox>
#include <QCursor>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineEdit>
#include <QLineSeries>
#include <QMessageBox>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QScatterSeries>
#include <QShortcut>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStyledItemDelegate>
#include <QSvgGenerator>
#include <QTabWidget>
#include <QTableView>
#include <QTextBrowser>
#include <QToolTip>
#include <QTreeWidget>
#include <QTreeWidgetItemIterator>
#include <QVBoxLayout>
#include <QValueAxis>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <functional>
#include <map>
#include <sstream>

#include "core/comparison.h"
#include "core/error.h"
#include "core/format.h"
#include "core/module_path.h"
#include "core/peak_breakdown.h"
#include "core/plan_report.h"
#include "core/profile_report.h"
#include "core/storage_tensors.h"
#include "core/timeline_series.h"
#include "core/validation.h"
#include "ui/activations_model.h"
#include "ui/category_colors.h"
#include "ui/comparison_chart.h"
#include "ui/icicle_view.h"
#include "ui/pannable_chart_view.h"
#include "ui/plan_chart.h"
#include "ui/storage_bands_view.h"
#include "ui/validation_chart.h"

namespace lowmem::ui {
namespace {

constexpr double kMiB = 1048576.0;
constexpr size_t kMaxPoints = 2000;

// The module tree's columns: module, type, then the byte columns.
constexpr int kTypeColumn = 1;
constexpr int kFirstBytesColumn = 2;

class BytesTreeItem : public QTreeWidgetItem {
 public:
  using QTreeWidgetItem::QTreeWidgetItem;
  bool operator<(const QTreeWidgetItem& other) const override {
    const int c = treeWidget() ? treeWidget()->sortColumn() : 0;
    if (c < kFirstBytesColumn) return text(c) < other.text(c);
    return data(c, Qt::UserRole).toLongLong() < other.data(c, Qt::UserRole).toLongLong();
  }
};

// The timeline's y axis ends this far above the peak; the selected storage's bar sits between the two.
constexpr double kHeadroom = 1.08;
constexpr double kLifetimeLevel = 1.04;

// The phase lines' colours: dark, distinct from each other and from every category, the peak and the
// selection.
QColor phaseColor(Phase phase) {
  static const QColor colors[kPhaseCount] = {QColor(60, 60, 60),  QColor(0, 90, 110), QColor(130, 20, 20),
                                             QColor(30, 40, 140), QColor(95, 95, 0),  QColor(110, 110, 110)};
  return colors[static_cast<size_t>(phase) % kPhaseCount];
}

QString q(const std::string& s) {
  return QString::fromStdString(s);
}

// Byte columns draw a bar behind the text, its length the share of the root's total (heaptrack's cost bars).
class ShareBarDelegate : public QStyledItemDelegate {
 public:
  using QStyledItemDelegate::QStyledItemDelegate;
  void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override {
    const double share = index.data(Qt::UserRole + 1).toDouble();
    if (share > 0) {
      QRect bar = option.rect.adjusted(1, 2, -1, -2);
      bar.setWidth(static_cast<int>(bar.width() * std::min(1.0, share)));
      painter->fillRect(bar, QColor(90, 140, 220, 90));
    }
    QStyledItemDelegate::paint(painter, option, index);
  }
};

// Runs on the worker: reads and re-analyses the run, and indexes what hovering shows.
LoadedRun loadRun(std::shared_ptr<SharedReader> shared, const std::string& label) {
  LoadedRun out;
  try {
    std::unique_lock<std::mutex> lock(shared->mutex);
    auto run = std::make_shared<SessionRun>(shared->reader.load(label));
    lock.unlock();
    out.points = decimatedIndices(run->profile, kMaxPoints);
    std::vector<int64_t> seqs;
    for (size_t i : out.points)
      seqs.push_back(run->profile.timeline[i].seq);
    out.largest = largestAliveAt(run->profile, seqs, 5);
    out.activations = ActivationsModel::activationsBySize(*run);
    out.bands = storageBands(run->profile);
    out.tensors = storageTensors(run->trace, run->profile);
    out.run = std::move(run);
  } catch (const std::exception& e) {
    out.error = firstLine(e.what());
  }
  return out;
}

LoadedComparison loadComparison(std::shared_ptr<SharedReader> shared) {
  LoadedComparison out;
  try {
    std::unique_lock<std::mutex> lock(shared->mutex);
    const SessionReader& reader = shared->reader;
    const auto stored = reader.comparisons();
    if (stored.empty()) return out;
    const auto& c = stored.back();
    out.baseline = reader.load(c.baselineLabel);
    out.patched = reader.load(c.patchedLabel);
    lock.unlock();
    std::ostringstream text;
    writeComparison(comparisonJson(out.baseline, out.patched, c.record), ReportFormat::kText, text);
    out.text = text.str();
    out.present = true;
  } catch (const std::exception& e) {
    out.error = firstLine(e.what());
  }
  return out;
}

}  // namespace

SessionView::SessionView(const std::string& path, QWidget* parent)
    : QWidget(parent), path_(path), reader_(std::make_shared<SharedReader>(path)) {
  setObjectName("sessionView");
  // Opening checked the file (schema, version, pages) here, so a bad file is refused before any view exists.
  for (const auto& r : reader_->reader.runs())
    labels_.push_back(r.label);
  // Plans and validations are small records: read here, shown in tabs of their own (a session written by
  // `plan -o` or `validate -o` may hold nothing else).
  const auto plans = reader_->reader.plans();
  const auto validations = reader_->reader.validations();
  if (labels_.empty() && plans.empty() && validations.empty())
    throw InputError(path, "session has no runs, validations or plans");
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(buildTopBar());
  tabs_ = new QTabWidget;
  tabs_->setObjectName("sessionTabs");
  layout->addWidget(tabs_);

  buildRunViews();

  connectViews();
  addShortcuts();
  addRecordTabs(plans, validations, path);
  if (labels_.empty()) {
    // No run to read on a worker: only the records' tabs (the run views would stay empty).
    while (tabs_->count() > 0 && tabs_->widget(0) != firstRecordTab_)
      tabs_->removeTab(0);
    runBox_->setEnabled(false);
    setBusy({});
    return;
  }
  pendingComparison_ = true;
  comparisonWatcher_->setFuture(QtConcurrent::run(loadComparison, reader_));
  showRun(0);
}

QHBoxLayout* SessionView::buildTopBar() {
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel("Run:"));
  runBox_ = new QComboBox;
  runBox_->setObjectName("runBox");
  for (const auto& l : labels_)
    runBox_->addItem(q(l));
  top->addWidget(runBox_);
  progress_ = new QProgressBar;
  progress_->setObjectName("sessionProgress");
  progress_->setRange(0, 0);  // busy: reading has no known length
  progress_->setMaximumWidth(200);
  stage_ = new QLabel;
  stage_->setObjectName("sessionStage");
  top->addWidget(progress_);
  top->addWidget(stage_);
  top->addStretch();
  filterLabel_ = new QLabel;
  filterLabel_->setObjectName("moduleFilter");
  top->addWidget(filterLabel_);
  return top;
}

// The views of one run, in their tabs; filled when a run is read.
void SessionView::buildRunViews() {
  summary_ = new QTextBrowser;
  summary_->setObjectName("summary");
  // Reports are column-aligned text: a fixed-pitch font, no wrapping.
  summary_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  summary_->setLineWrapMode(QTextEdit::NoWrap);
  tabs_->addTab(summary_, "Summary");
  timeline_ = new PannableChartView;
  timeline_->setObjectName("timeline");
  timeline_->setToolTip(
      "Drag to zoom, right-click to zoom out; wheel zooms; Shift+drag, middle-drag or the arrow "
      "keys pan; 0 resets");
  timeline_->setRenderHint(QPainter::Antialiasing);
  tabs_->addTab(timeline_, "Timeline");
  bands_ = new StorageBandsView;
  bands_->setObjectName("bands");
  tabs_->addTab(bands_, "Bands");
  icicle_ = new IcicleView;
  icicle_->setObjectName("icicle");
  tabs_->addTab(icicle_, "Flame");
  auto* modulesPage = new QWidget;
  auto* modulesLayout = new QVBoxLayout(modulesPage);
  moduleSearch_ = new QLineEdit;
  moduleSearch_->setObjectName("moduleSearch");
  moduleSearch_->setPlaceholderText("search modules by path or type");
  modulesLayout->addWidget(moduleSearch_);
  modules_ = new QTreeWidget;
  modules_->setObjectName("modules");
  modules_->setHeaderLabels({"module", "type", "activations (inclusive)", "exclusive"});
  modules_->setSortingEnabled(true);
  modules_->setItemDelegateForColumn(kFirstBytesColumn, new ShareBarDelegate(modules_));
  modules_->setItemDelegateForColumn(kFirstBytesColumn + 1, new ShareBarDelegate(modules_));
  modulesLayout->addWidget(modules_);
  tabs_->addTab(modulesPage, "Modules");
  auto* acts = new QWidget;
  auto* actsLayout = new QVBoxLayout(acts);
  filter_ = new QLineEdit;
  filter_->setObjectName("activationFilter");
  filter_->setPlaceholderText("filter by op, module, holder or reason");
  actsLayout->addWidget(filter_);
  activationsModel_ = new ActivationsModel(this);
  activationsFilter_ = new ActivationsFilter(this);
  activationsFilter_->setSourceModel(activationsModel_);
  activations_ = new QTableView;
  activations_->setObjectName("activations");
  activations_->setModel(activationsFilter_);
  activations_->setSortingEnabled(true);
  activations_->setSelectionBehavior(QAbstractItemView::SelectRows);
  activations_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  activations_->horizontalHeader()->setStretchLastSection(true);
  actsLayout->addWidget(activations_);
  tabs_->addTab(acts, "Activations");
}

void SessionView::connectViews() {
  runWatcher_ = new QFutureWatcher<LoadedRun>(this);
  comparisonWatcher_ = new QFutureWatcher<LoadedComparison>(this);
  connect(runWatcher_, &QFutureWatcher<LoadedRun>::finished, this, &SessionView::runLoaded);
  connect(comparisonWatcher_, &QFutureWatcher<LoadedComparison>::finished, this,
          &SessionView::comparisonLoaded);
  connect(runBox_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &SessionView::showRun);
  connect(filter_, &QLineEdit::textChanged, activationsFilter_, &ActivationsFilter::setText);
  connect(activations_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& current, const QModelIndex&) { markLifetime(current); });
  connect(icicle_, &IcicleView::moduleClicked, this, &SessionView::filterToModule);
  connect(bands_, &StorageBandsView::storageClicked, this, &SessionView::selectStorage);
  connect(moduleSearch_, &QLineEdit::textChanged, this, &SessionView::searchModules);
  connect(modules_, &QTreeWidget::itemClicked, this,
          [this](QTreeWidgetItem* item) { filterToModule(item->data(0, Qt::UserRole).toString()); });
}

SessionView::~SessionView() {
  // A worker still reading shares the reader (kept alive by its own pointer) and nothing else of the view.
  runWatcher_->waitForFinished();
  comparisonWatcher_->waitForFinished();
}

bool SessionView::loading() const {
  return pendingRun_ || pendingComparison_;
}

void SessionView::setBusy(const QString& what) {
  progress_->setVisible(!what.isEmpty());
  stage_->setText(what);
}

void SessionView::showRun(int index) {
  if (index < 0 || index >= static_cast<int>(labels_.size())) return;
  if (runBox_->currentIndex() != index) {
    runBox_->setCurrentIndex(index);  // its signal comes back here
    return;
  }
  requested_ = index;
  pendingRun_ = true;
  setBusy(q("reading run '" + labels_[static_cast<size_t>(index)] + "'"));
  // A newer request replaces the watched future; the older one finishes unobserved.
  runWatcher_->setFuture(QtConcurrent::run(loadRun, reader_, labels_[static_cast<size_t>(index)]));
}

void SessionView::runLoaded() {
  auto loaded = runWatcher_->result();
  pendingRun_ = false;
  setBusy(pendingComparison_ ? QString("reading the comparison") : QString());
  if (!loaded.error.empty()) {
    summary_->setPlainText(q(loaded.error));
    tabs_->setCurrentWidget(summary_);
    Q_EMIT runShown(requested_);
    return;
  }
  loaded_ = std::move(loaded);
  fillSummary();
  fillTimeline();
  fillModules();
  fillActivations();
  bands_->setRun(loaded_.run, loaded_.bands, loaded_.tensors);
  icicle_->setModules(loaded_.run->profile.moduleActivations, loaded_.run->trace.moduleTypes);
  filterToModule({});
  Q_EMIT runShown(requested_);
}

void SessionView::fillSummary() {
  std::ostringstream text;
  writeRunReport(*loaded_.run, ReportFormat::kText, text);
  summary_->setPlainText(q(text.str()));
}

// Phase boundaries as vertical lines from zero to `top`, named in the legend, each in its own colour.
void SessionView::addPhaseLines(QChart* chart, int64_t t0, double top) const {
  for (const auto& mark : loaded_.run->trace.phases) {
    if (mark.phase == Phase::kBefore || loaded_.run->profile.timeline.empty()) continue;
    auto* line = new QLineSeries;
    line->setName(QString("%1 starts").arg(phaseName(mark.phase)));
    const double x = static_cast<double>(std::max<int64_t>(0, mark.timeNs - t0)) / 1e6;
    line->append(x, 0);
    line->append(x, top);
    QPen pen(Qt::DashLine);
    pen.setWidth(2);
    pen.setColor(phaseColor(mark.phase));
    line->setPen(pen);
    chart->addSeries(line);
  }
}

void SessionView::makeLegendToggle(QChart* chart) {
  // Clicking a legend entry hides that category (or line) and greys the entry; clicking again shows it.
  for (auto* marker : chart->legend()->markers()) {
    connect(marker, &QLegendMarker::clicked, this, [marker] {
      auto* series = marker->series();
      series->setVisible(!series->isVisible());
      marker->setVisible(true);  // hiding a series hides its marker too; keep it to click again
      marker->setLabelBrush(series->isVisible() ? QBrush(Qt::black) : QBrush(Qt::gray));
    });
  }
}

void SessionView::fillTimeline() {
  const auto& tl = loaded_.run->profile.timeline;
  auto* chart = new QChart;
  chart->setTitle(q("Memory of run '" + loaded_.run->info.label + "' by category (peak " +
                    formatBytes(loaded_.run->profile.peak().total) + ")"));
  // Each bucket's maximum, so the peak is always drawn.
  const auto& points = loaded_.points;
  const int64_t t0 = tl.empty() ? 0 : tl.front().timeNs;
  QLineSeries* lower = nullptr;
  std::vector<int64_t> below(points.size(), 0);
  for (int c = 0; c < kCategoryCount; ++c) {
    bool any = false;
    for (size_t i : points)
      any = any || tl[i].byCategory[static_cast<size_t>(c)] != 0;
    if (!any) continue;
    auto* upper = new QLineSeries;
    for (size_t k = 0; k < points.size(); ++k) {
      below[k] += tl[points[k]].byCategory[static_cast<size_t>(c)];
      upper->append(static_cast<double>(tl[points[k]].timeNs - t0) / 1e6,
                    static_cast<double>(below[k]) / kMiB);
    }
    auto* area = new QAreaSeries(upper, lower);
    area->setName(categoryName(static_cast<Category>(c)));
    area->setColor(categoryColor(static_cast<Category>(c)));
    area->setBorderColor(categoryColor(static_cast<Category>(c)).darker(130));
    chart->addSeries(area);
    lower = upper;
  }
  auto* peak = new QScatterSeries;
  peak->setName("peak");
  peak->setColor(Qt::black);
  peak->setBorderColor(Qt::black);
  const auto& p = loaded_.run->profile.peak();
  peak->append(static_cast<double>(p.timeNs - t0) / 1e6, static_cast<double>(p.total) / kMiB);
  chart->addSeries(peak);
  lifetime_ = new QLineSeries;
  lifetime_->setName("selected storage");
  QPen selected(selectionColor());
  selected.setWidth(4);
  lifetime_->setPen(selected);
  chart->addSeries(lifetime_);
  const double top = static_cast<double>(p.total) / kMiB;
  addPhaseLines(chart, t0, top);
  // Hovering an area shows the time, the total there and the largest storages alive.
  for (auto* series : chart->series()) {
    auto* area = qobject_cast<QAreaSeries*>(series);
    if (!area) continue;
    connect(area, &QAreaSeries::hovered, this, [this, t0](const QPointF& point, bool state) {
      if (!state) return;
      QToolTip::showText(QCursor::pos(), hoverText(point.x() * 1e6 + static_cast<double>(t0)));
    });
  }
  chart->createDefaultAxes();
  chart->axes(Qt::Horizontal).front()->setTitleText("time in the step (ms)");
  chart->axes(Qt::Vertical).front()->setTitleText("MiB");
  // From zero, with room above the peak for the selected storage's lifetime bar (drawn inside the plot).
  chart->axes(Qt::Vertical).front()->setRange(0, top * kHeadroom);
  // Round ticks (the range only grows, so the selection's bar stays inside the plot).
  for (auto* axis : chart->axes()) {
    if (auto* value = qobject_cast<QValueAxis*>(axis)) value->applyNiceNumbers();
  }
  makeLegendToggle(chart);
  auto* old = timeline_->chart();
  timeline_->setChart(chart);
  delete old;
}

QString SessionView::hoverTextAt(double msFromStart) const {
  if (!loaded_.run || loaded_.run->profile.timeline.empty()) return {};
  return hoverText(msFromStart * 1e6 + static_cast<double>(loaded_.run->profile.timeline.front().timeNs));
}

QString SessionView::hoverText(double timeNs) const {
  if (!loaded_.run || loaded_.points.empty()) return {};
  const auto& p = loaded_.run->profile;
  const auto& tl = p.timeline;
  // The drawn point at or after the time (the chart shows no other), and its largest storages, indexed when
  // the run was read.
  auto it =
      std::lower_bound(loaded_.points.begin(), loaded_.points.end(), timeNs,
                       [&](size_t point, double v) { return static_cast<double>(tl[point].timeNs) < v; });
  if (it == loaded_.points.end()) --it;
  const auto& point = tl[*it];
  QString text = QString("%1 ms: %2 allocated")
                     .arg(static_cast<double>(point.timeNs - tl.front().timeNs) / 1e6, 0, 'f', 3)
                     .arg(q(formatBytes(point.total)));
  for (size_t i : loaded_.largest[static_cast<size_t>(it - loaded_.points.begin())]) {
    const auto& st = p.storages[i];
    const auto& t = loaded_.run->trace;
    text += QString("\n  %1  %2  %3")
                .arg(q(formatBytes(st.bytes)), q(categoryName(st.category)),
                     q(st.allocOp >= 0 ? t.opName(requestingOp(t, st.allocOp)) + " " + t.str(st.module)
                                       : p.reasonOf(st)));
  }
  return text;
}

void SessionView::fillModules() {
  modules_->clear();
  std::map<std::string, QTreeWidgetItem*> items;
  const auto rootIt = loaded_.run->profile.moduleActivations.find("");
  const double whole = rootIt == loaded_.run->profile.moduleActivations.end() || rootIt->second.inclusive == 0
                           ? 1.0
                           : static_cast<double>(rootIt->second.inclusive);
  for (const auto& [path, a] : loaded_.run->profile.moduleActivations) {
    QTreeWidgetItem* parent = nullptr;
    const auto [up, leaf] = splitLastComponent(path);
    if (!path.empty()) {
      auto it = items.find(up);
      parent = it == items.end() ? nullptr : it->second;
    }
    auto* item = parent ? new BytesTreeItem(parent) : new BytesTreeItem(modules_);
    item->setText(0, q(path.empty() ? "(root)" : leaf));
    item->setData(0, Qt::UserRole, q(path));
    item->setToolTip(0, q(path));
    item->setText(kTypeColumn, q(loaded_.run->trace.moduleType(path)));
    const int64_t bytes[2] = {a.inclusive, a.exclusive};
    for (int k = 0; k < 2; ++k) {
      item->setText(kFirstBytesColumn + k, q(formatBytes(bytes[k])));
      item->setData(kFirstBytesColumn + k, Qt::UserRole, static_cast<qlonglong>(bytes[k]));
      item->setData(kFirstBytesColumn + k, Qt::UserRole + 1, static_cast<double>(bytes[k]) / whole);
    }
    items[path] = item;
  }
  modules_->expandAll();
  modules_->sortByColumn(kFirstBytesColumn, Qt::DescendingOrder);
  modules_->resizeColumnToContents(0);
  modules_->resizeColumnToContents(kTypeColumn);
  modules_->setColumnWidth(kFirstBytesColumn, 240);
  modules_->setColumnWidth(kFirstBytesColumn + 1, 240);
  searchModules(moduleSearch_->text());
}

void SessionView::fillActivations() {
  // Rows come largest first; the header shows that order without the proxy sorting them again (the user's
  // clicks sort through it).
  activationsFilter_->sort(-1);
  activationsModel_->setRun(loaded_.run, loaded_.activations, loaded_.tensors);
  const QSignalBlocker quiet(activations_->horizontalHeader());
  activations_->horizontalHeader()->setSortIndicator(ActivationsModel::kBytes, Qt::DescendingOrder);
  // Every column but the reason as wide as its text; the reason takes the rest.
  for (int c = 0; c < ActivationsModel::kReason; ++c)
    activations_->resizeColumnToContents(c);
}

void SessionView::filterToModule(const QString& path) {
  moduleFilter_ = path;
  activationsFilter_->setModule(path);
  bands_->setModuleFilter(path);
  icicle_->select(path);
  filterLabel_->setText(path.isEmpty() ? QString() : "Module filter: " + path + " (Esc clears)");
  // The tree shows where it is, without filtering itself (its search box does that).
  for (QTreeWidgetItemIterator it(modules_); *it; ++it) {
    if ((*it)->data(0, Qt::UserRole).toString() == path && !path.isEmpty()) {
      const QSignalBlocker quiet(modules_);
      modules_->setCurrentItem(*it);
      modules_->scrollToItem(*it);
    }
  }
}

void SessionView::searchModules(const QString& text) {
  // A module shows when its path or type matches, or when one below it does (so a match keeps its place).
  std::function<bool(QTreeWidgetItem*)> show = [&](QTreeWidgetItem* item) {
    bool any = text.isEmpty() || item->data(0, Qt::UserRole).toString().contains(text, Qt::CaseInsensitive) ||
               item->text(kTypeColumn).contains(text, Qt::CaseInsensitive);
    for (int i = 0; i < item->childCount(); ++i)
      any = show(item->child(i)) || any;
    item->setHidden(!any);
    return any;
  };
  for (int i = 0; i < modules_->topLevelItemCount(); ++i)
    show(modules_->topLevelItem(i));
}

void SessionView::selectStorage(qint64 storage) {
  if (storage < 0) return;
  // An activation's row, if the table (as filtered) shows it; selecting it marks its lifetime everywhere.
  for (int r = 0; r < activationsModel_->rowCount(); ++r) {
    if (static_cast<qint64>(activationsModel_->storageAt(r)) != storage) continue;
    const auto index = activationsFilter_->mapFromSource(activationsModel_->index(r, 0));
    if (index.isValid()) activations_->setCurrentIndex(index);
    return;
  }
}

QString SessionView::shortcutsText() {
  return "Ctrl+1 .. Ctrl+9\tshow the first .. ninth view (Summary, Timeline, Bands, Flame, Modules, "
         "Activations, Compare)\n"
         "Ctrl+F\tsearch the shown view (modules or activations)\n"
         "Escape\tclear the module filter\n"
         "Timeline: drag\tzoom in; right-click zooms out, wheel zooms, arrows pan, 0 resets\n"
         "Ctrl+D\tcompare with another session";
}

void SessionView::addShortcuts() {
  for (int i = 0; i < 9; ++i) {
    auto* key = new QShortcut(QKeySequence(Qt::CTRL | static_cast<Qt::Key>(Qt::Key_1 + i)), this);
    key->setContext(Qt::WidgetWithChildrenShortcut);
    connect(key, &QShortcut::activated, this, [this, i] {
      if (i < tabs_->count()) tabs_->setCurrentIndex(i);
    });
  }
  auto* find = new QShortcut(QKeySequence::Find, this);
  find->setContext(Qt::WidgetWithChildrenShortcut);
  connect(find, &QShortcut::activated, this, [this] {
    if (tabs_->currentWidget() == activations_->parentWidget()) {
      filter_->setFocus();
      filter_->selectAll();
    } else {
      tabs_->setCurrentWidget(modules_->parentWidget());
      moduleSearch_->setFocus();
      moduleSearch_->selectAll();
    }
  });
  auto* clear = new QShortcut(QKeySequence(Qt::Key_Escape), this);
  clear->setContext(Qt::WidgetWithChildrenShortcut);
  connect(clear, &QShortcut::activated, this, [this] { filterToModule({}); });
}

void SessionView::markLifetime(const QModelIndex& current) {
  if (!lifetime_) return;
  lifetime_->clear();
  if (!current.isValid() || !loaded_.run) return;
  const auto row = activationsFilter_->mapToSource(current).row();
  const auto storage = activationsModel_->storageAt(row);
  bands_->selectStorage(static_cast<int64_t>(storage));
  const auto& s = loaded_.run->profile.storages[storage];
  const auto& tl = loaded_.run->profile.timeline;
  if (tl.empty()) return;
  const int64_t t0 = tl.front().timeNs;
  auto timeAt = [&](int64_t seq) {
    const size_t i = std::min(timelinePointAt(loaded_.run->profile, seq), tl.size() - 1);
    return static_cast<double>(tl[i].timeNs - t0) / 1e6;
  };
  const double y = static_cast<double>(loaded_.run->profile.peak().total) / kMiB * kLifetimeLevel;
  lifetime_->append(timeAt(s.allocSeq), y);
  lifetime_->append(s.freeSeq < 0 ? timeAt(tl.back().seq) : timeAt(s.freeSeq), y);
}

void SessionView::comparisonLoaded() {
  const auto c = comparisonWatcher_->result();
  pendingComparison_ = false;
  if (!pendingRun_) setBusy({});
  if (!c.present) {
    if (!c.error.empty()) stage_->setText(q("comparison not shown: " + c.error));
    return;
  }
  addComparisonTab("Compare", "comparePage", q(c.text), c.baseline, c.patched);
}

QWidget* SessionView::addComparisonTab(const QString& title, const QString& name, const QString& text,
                                       const SessionRun& baseline, const SessionRun& patched) {
  auto* page = new QSplitter(Qt::Horizontal);
  page->setObjectName(name);
  auto* textView = new QTextBrowser;
  textView->setObjectName(name == "comparePage" ? "compareText" : name + "Text");
  textView->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  // Lines longer than the pane wrap rather than run out of sight; the pane starts as wide as the widest line
  // (up to half the page) and the splitter moves.
  textView->setLineWrapMode(QTextEdit::WidgetWidth);
  textView->setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
  textView->setPlainText(text);
  int widest = 0;
  const QFontMetrics metrics(textView->font());
  for (const auto& line : text.split('\n'))
    widest = std::max(widest, metrics.horizontalAdvance(line));
  page->addWidget(textView);
  auto* rightPane = new QWidget;
  auto* right = new QVBoxLayout(rightPane);
  auto* charts = makeComparisonCharts(baseline, patched);
  if (name == "comparePage") charts_ = charts;
  right->addWidget(charts, 1);
  auto* exportButton = new QPushButton("Export chart as PNG or SVG...");
  exportButton->setObjectName("exportChart");
  connect(exportButton, &QPushButton::clicked, this, [this, charts] {
    const QString file = QFileDialog::getSaveFileName(this, "Export chart", "peak-before-after.png",
                                                      "PNG (*.png);;SVG (*.svg)");
    if (!file.isEmpty() && !exportChart(charts, file))
      QMessageBox::warning(this, "lowmem-studio", file + ": cannot write the image");
  });
  right->addWidget(exportButton, 0, Qt::AlignRight);
  page->addWidget(rightPane);
  const int pageWidth = std::max(800, tabs_->width());
  const int textWidth = std::min(widest + 40, pageWidth / 2);
  page->setSizes({textWidth, pageWidth - textWidth});
  page->setStretchFactor(1, 1);
  tabs_->addTab(page, title);
  return page;
}

void SessionView::addRecordTabs(const std::vector<nlohmann::json>& plans,
                                const std::vector<Validation>& validations, const std::string& path) {
  const int first = tabs_->count();
  for (size_t i = 0; i < plans.size(); ++i) {
    tabs_->addTab(makePlanPage(planFromJson(plans[i], path)),
                  plans.size() > 1 ? QString("Plan %1").arg(i + 1) : "Plan");
  }
  for (size_t i = 0; i < validations.size(); ++i) {
    std::ostringstream summary;
    writeValidationSummary(validations[i], summary);
    auto* text = new QTextBrowser;
    text->setObjectName("validationText");
    text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    text->setLineWrapMode(QTextEdit::NoWrap);
    text->setPlainText(q(summary.str()));
    auto* page = new QSplitter(Qt::Horizontal);
    page->addWidget(text);
    page->addWidget(makeValidationCharts(validations[i]));
    page->setStretchFactor(1, 1);
    tabs_->addTab(page, validations.size() > 1 ? QString("Validation %1").arg(i + 1) : "Validation");
  }
  firstRecordTab_ = tabs_->widget(first);  // nullptr when there are none
}

QString SessionView::compareWith(const QString& otherSession) {
  if (!loaded_.run) return "no run is shown yet";
  const std::string other = otherSession.toStdString();
  try {
    SessionReader check(other);  // schema and pages: quick, and a bad file is refused at once
  } catch (const std::exception& e) {
    return otherSession + ": " + QString::fromStdString(firstLine(e.what()));
  }
  // Reading and re-analysing the other run takes as long as opening it: on a worker, like every run.
  struct Diff {
    std::shared_ptr<const SessionRun> other;
    std::string text;
    std::string error;
  };
  auto* watcher = new QFutureWatcher<Diff>(this);
  connect(watcher, &QFutureWatcher<Diff>::finished, this, [this, watcher, otherSession] {
    const Diff d = watcher->result();
    watcher->deleteLater();
    if (!d.error.empty()) {
      const QString error = otherSession + ": " + QString::fromStdString(d.error);
      stage_->setText(error);
      Q_EMIT diffShown(error);
      return;
    }
    auto* page = addComparisonTab("Diff: " + QFileInfo(otherSession).fileName(), "diffPage", q(d.text),
                                  *loaded_.run, *d.other);
    tabs_->setCurrentWidget(page);
    Q_EMIT diffShown({});
  });
  watcher->setFuture(QtConcurrent::run([shown = loaded_.run, other] {
    Diff d;
    try {
      // The shown run against the other session's first run: two profiles no patch joined, no prediction.
      d.other = std::make_shared<SessionRun>(SessionReader(other).load(""));
      std::ostringstream text;
      writeComparison(comparisonJson(*shown, *d.other, nlohmann::json::object()), ReportFormat::kText, text);
      d.text = text.str();
    } catch (const std::exception& e) {
      d.error = firstLine(e.what());
    }
    return d;
  }));
  return {};
}

bool SessionView::exportComparisonChart(const QString& file) const {
  return charts_ && exportChart(charts_, file);
}

bool SessionView::exportChart(QWidget* charts, const QString& file) {
  // The wall-time toggle is a control, not part of the figure.
  auto* toggle = charts->findChild<QCheckBox*>("wallTime");
  const bool shown = toggle && toggle->isVisible();
  if (toggle) toggle->hide();
  const bool ok = renderChart(charts, file);
  if (toggle && shown) toggle->show();
  return ok;
}

bool SessionView::renderChart(QWidget* charts, const QString& file) {
  if (!file.endsWith(".svg", Qt::CaseInsensitive)) return charts->grab().save(file, "PNG");
  // Vector output: the charts paint themselves into the SVG generator.
  QSvgGenerator svg;
  svg.setFileName(file);
  svg.setSize(charts->size());
  svg.setViewBox(QRect(QPoint(0, 0), charts->size()));
  svg.setTitle("lowmem: peak before and after");
  QPainter painter;
  if (!painter.begin(&svg)) return false;
  charts->render(&painter);
  return painter.end();
}

}  // namespace lowmem::ui
