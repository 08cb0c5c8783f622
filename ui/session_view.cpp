#include "ui/session_view.h"

#include <QAreaSeries>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QCursor>
#include <QFileDialog>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QScatterSeries>
#include <QStyledItemDelegate>
#include <QSvgGenerator>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QToolTip>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <map>
#include <sstream>

#include "core/comparison.h"
#include "core/error.h"
#include "core/format.h"
#include "core/module_path.h"
#include "core/profile_report.h"
#include "core/timeline_series.h"
#include "ui/comparison_chart.h"
#include "ui/pannable_chart_view.h"

namespace lowmem::ui {
namespace {

constexpr double kMiB = 1048576.0;
constexpr size_t kMaxPoints = 2000;

// A table cell that sorts by a number while showing text.
class BytesItem : public QTableWidgetItem {
 public:
  explicit BytesItem(int64_t bytes)
      : QTableWidgetItem(QString::fromStdString(formatBytes(bytes))), bytes_(bytes) {
    setData(Qt::UserRole, static_cast<qlonglong>(bytes));
  }
  bool operator<(const QTableWidgetItem& other) const override {
    return bytes_ < other.data(Qt::UserRole).toLongLong();
  }

 private:
  int64_t bytes_;
};

class BytesTreeItem : public QTreeWidgetItem {
 public:
  using QTreeWidgetItem::QTreeWidgetItem;
  bool operator<(const QTreeWidgetItem& other) const override {
    const int c = treeWidget() ? treeWidget()->sortColumn() : 0;
    if (c == 0) return text(0) < other.text(0);
    return data(c, Qt::UserRole).toLongLong() < other.data(c, Qt::UserRole).toLongLong();
  }
};

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

}  // namespace

SessionView::SessionView(const std::string& path, QWidget* parent)
    : QWidget(parent), path_(path), reader_(std::make_unique<SessionReader>(path)) {
  setObjectName("sessionView");
  for (const auto& r : reader_->runs())
    labels_.push_back(r.label);
  if (labels_.empty()) throw InputError(path, "session has no runs");
  auto* layout = new QVBoxLayout(this);
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel("Run:"));
  runBox_ = new QComboBox;
  runBox_->setObjectName("runBox");
  for (const auto& l : labels_)
    runBox_->addItem(q(l));
  top->addWidget(runBox_);
  top->addStretch();
  layout->addLayout(top);
  tabs_ = new QTabWidget;
  tabs_->setObjectName("sessionTabs");
  layout->addWidget(tabs_);

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
  modules_ = new QTreeWidget;
  modules_->setObjectName("modules");
  modules_->setHeaderLabels({"module", "activations (inclusive)", "exclusive"});
  modules_->setSortingEnabled(true);
  modules_->setItemDelegateForColumn(1, new ShareBarDelegate(modules_));
  modules_->setItemDelegateForColumn(2, new ShareBarDelegate(modules_));
  tabs_->addTab(modules_, "Modules");
  auto* acts = new QWidget;
  auto* actsLayout = new QVBoxLayout(acts);
  filter_ = new QLineEdit;
  filter_->setObjectName("activationFilter");
  filter_->setPlaceholderText("filter by op, module, holder or reason");
  actsLayout->addWidget(filter_);
  activations_ = new QTableWidget;
  activations_->setObjectName("activations");
  activations_->setColumnCount(7);
  activations_->setHorizontalHeaderLabels(
      {"bytes", "category", "allocating op", "module", "holder", "lifetime (seq)", "reason"});
  activations_->setSelectionBehavior(QAbstractItemView::SelectRows);
  activations_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  activations_->horizontalHeader()->setStretchLastSection(true);
  actsLayout->addWidget(activations_);
  tabs_->addTab(acts, "Activations");
  addComparisonTab();

  connect(runBox_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, &SessionView::showRun);
  connect(filter_, &QLineEdit::textChanged, this, [this](const QString& text) {
    for (int r = 0; r < activations_->rowCount(); ++r) {
      bool match = text.isEmpty();
      for (int c = 2; c < activations_->columnCount() && !match; ++c)
        match =
            activations_->item(r, c) && activations_->item(r, c)->text().contains(text, Qt::CaseInsensitive);
      activations_->setRowHidden(r, !match);
    }
  });
  connect(activations_, &QTableWidget::currentCellChanged, this,
          [this](int row, int, int, int) { markLifetime(row); });
  showRun(0);
}

void SessionView::showRun(int index) {
  if (index < 0 || index >= static_cast<int>(labels_.size())) return;
  run_ = reader_->load(labels_[static_cast<size_t>(index)]);
  fillSummary();
  fillTimeline();
  fillModules();
  fillActivations();
}

void SessionView::fillSummary() {
  std::ostringstream text;
  writeRunReport(run_, ReportFormat::kText, text);
  summary_->setPlainText(q(text.str()));
}

void SessionView::fillTimeline() {
  const auto& tl = run_.profile.timeline;
  auto* chart = new QChart;
  chart->setTitle(q("Memory of run '" + run_.info.label + "' by category (peak " +
                    formatBytes(run_.profile.peak().total) + ")"));
  // Each bucket's maximum, so the peak is always drawn.
  const auto points = decimatedIndices(run_.profile, kMaxPoints);
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
    chart->addSeries(area);
    lower = upper;
  }
  auto* peak = new QScatterSeries;
  peak->setName("peak");
  const auto& p = run_.profile.peak();
  peak->append(static_cast<double>(p.timeNs - t0) / 1e6, static_cast<double>(p.total) / kMiB);
  chart->addSeries(peak);
  lifetime_ = new QLineSeries;
  lifetime_->setName("selected storage");
  chart->addSeries(lifetime_);
  // Phase boundaries as vertical lines from zero to the peak, named in the legend.
  const double top = static_cast<double>(p.total) / kMiB;
  for (const auto& mark : run_.trace.phases) {
    if (mark.phase == Phase::kBefore || tl.empty()) continue;
    auto* line = new QLineSeries;
    line->setName(QString("%1 starts").arg(phaseName(mark.phase)));
    const double x = static_cast<double>(std::max<int64_t>(0, mark.timeNs - t0)) / 1e6;
    line->append(x, 0);
    line->append(x, top);
    QPen pen(Qt::DashLine);
    pen.setColor(QColor(80, 80, 80));
    line->setPen(pen);
    chart->addSeries(line);
  }
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
  auto* old = timeline_->chart();
  timeline_->setChart(chart);
  delete old;
}

QString SessionView::hoverText(double timeNs) const {
  const auto& tl = run_.profile.timeline;
  if (tl.empty()) return {};
  auto it = std::lower_bound(tl.begin(), tl.end(), timeNs, [](const TimelinePoint& p, double v) {
    return static_cast<double>(p.timeNs) < v;
  });
  if (it == tl.end()) --it;
  std::vector<size_t> alive = run_.profile.aliveAt(it->seq);
  std::sort(alive.begin(), alive.end(), [this](size_t a, size_t b) {
    return run_.profile.storages[a].bytes > run_.profile.storages[b].bytes;
  });
  QString text = QString("%1 ms: %2 allocated")
                     .arg(static_cast<double>(it->timeNs - tl.front().timeNs) / 1e6, 0, 'f', 3)
                     .arg(q(formatBytes(it->total)));
  for (size_t k = 0; k < std::min<size_t>(5, alive.size()); ++k) {
    const auto& st = run_.profile.storages[alive[k]];
    text += QString("\n  %1  %2  %3")
                .arg(q(formatBytes(st.bytes)), q(categoryName(st.category)),
                     q(st.allocOp >= 0 ? run_.trace.opName(st.allocOp) + " " + run_.trace.str(st.module)
                                       : run_.profile.reasonOf(st)));
  }
  return text;
}

void SessionView::fillModules() {
  modules_->clear();
  std::map<std::string, QTreeWidgetItem*> items;
  const auto rootIt = run_.profile.moduleActivations.find("");
  const double whole = rootIt == run_.profile.moduleActivations.end() || rootIt->second.inclusive == 0
                           ? 1.0
                           : static_cast<double>(rootIt->second.inclusive);
  for (const auto& [path, a] : run_.profile.moduleActivations) {
    QTreeWidgetItem* parent = nullptr;
    const auto [up, leaf] = splitLastComponent(path);
    if (!path.empty()) {
      auto it = items.find(up);
      parent = it == items.end() ? nullptr : it->second;
    }
    auto* item = parent ? new BytesTreeItem(parent) : new BytesTreeItem(modules_);
    item->setText(0, q(path.empty() ? "(root)" : leaf));
    item->setToolTip(0, q(path));
    item->setText(1, q(formatBytes(a.inclusive)));
    item->setData(1, Qt::UserRole, static_cast<qlonglong>(a.inclusive));
    item->setText(2, q(formatBytes(a.exclusive)));
    item->setData(2, Qt::UserRole, static_cast<qlonglong>(a.exclusive));
    item->setData(1, Qt::UserRole + 1, static_cast<double>(a.inclusive) / whole);
    item->setData(2, Qt::UserRole + 1, static_cast<double>(a.exclusive) / whole);
    items[path] = item;
  }
  modules_->expandAll();
  modules_->sortByColumn(1, Qt::DescendingOrder);
  modules_->resizeColumnToContents(0);
  modules_->setColumnWidth(1, 260);
  modules_->setColumnWidth(2, 260);
}

void SessionView::fillActivations() {
  const auto& t = run_.trace;
  activations_->setSortingEnabled(false);
  activations_->setRowCount(0);
  int row = 0;
  for (size_t i = 0; i < run_.profile.storages.size(); ++i) {
    const auto& s = run_.profile.storages[i];
    if (s.category != Category::kActivation) continue;
    activations_->insertRow(row);
    auto* bytes = new BytesItem(s.bytes);
    bytes->setData(Qt::UserRole + 1, static_cast<qlonglong>(i));
    activations_->setItem(row, 0, bytes);
    activations_->setItem(row, 1, new QTableWidgetItem(categoryName(s.category)));
    activations_->setItem(row, 2, new QTableWidgetItem(q(t.opName(s.allocOp))));
    activations_->setItem(row, 3, new QTableWidgetItem(q(t.str(s.module))));
    activations_->setItem(row, 4, new QTableWidgetItem(q(t.opName(s.holderOp))));
    activations_->setItem(
        row, 5,
        new QTableWidgetItem(QString("%1 .. %2")
                                 .arg(s.allocSeq)
                                 .arg(s.freeSeq < 0 ? QString("end") : QString::number(s.freeSeq))));
    activations_->setItem(row, 6, new QTableWidgetItem(q(run_.profile.reasonOf(s))));
    ++row;
  }
  activations_->setSortingEnabled(true);
  activations_->sortByColumn(0, Qt::DescendingOrder);
  // Every column but the reason as wide as its text; the reason takes the rest.
  for (int c = 0; c < activations_->columnCount() - 1; ++c)
    activations_->resizeColumnToContents(c);
}

void SessionView::markLifetime(int row) {
  if (!lifetime_) return;
  lifetime_->clear();
  if (row < 0 || !activations_->item(row, 0)) return;
  const auto index = static_cast<size_t>(activations_->item(row, 0)->data(Qt::UserRole + 1).toLongLong());
  const auto& s = run_.profile.storages[index];
  const auto& tl = run_.profile.timeline;
  if (tl.empty()) return;
  const int64_t t0 = tl.front().timeNs;
  auto timeAt = [&](int64_t seq) {
    auto it = std::lower_bound(tl.begin(), tl.end(), seq,
                               [](const TimelinePoint& p, int64_t v) { return p.seq < v; });
    return static_cast<double>((it == tl.end() ? tl.back() : *it).timeNs - t0) / 1e6;
  };
  const double y = static_cast<double>(run_.profile.peak().total) / kMiB * 1.02;
  lifetime_->append(timeAt(s.allocSeq), y);
  lifetime_->append(s.freeSeq < 0 ? timeAt(tl.back().seq) : timeAt(s.freeSeq), y);
}

void SessionView::addComparisonTab() {
  const auto stored = reader_->comparisons();
  if (stored.empty()) return;
  const auto& c = stored.back();
  const auto base = reader_->load(c.baselineLabel);
  const auto patched = reader_->load(c.patchedLabel);
  auto* page = new QWidget;
  page->setObjectName("comparePage");
  auto* layout = new QHBoxLayout(page);
  auto* text = new QTextBrowser;
  text->setObjectName("compareText");
  text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  text->setLineWrapMode(QTextEdit::NoWrap);
  std::ostringstream out;
  writeComparison(comparisonJson(base, patched, c.record), ReportFormat::kText, out);
  text->setPlainText(q(out.str()));
  layout->addWidget(text, 2);
  auto* right = new QVBoxLayout;
  charts_ = makeComparisonCharts(base, patched);
  right->addWidget(charts_, 1);
  auto* exportButton = new QPushButton("Export chart as PNG or SVG...");
  exportButton->setObjectName("exportChart");
  connect(exportButton, &QPushButton::clicked, this, [this] {
    const QString file = QFileDialog::getSaveFileName(this, "Export chart", "peak-before-after.png",
                                                      "PNG (*.png);;SVG (*.svg)");
    if (!file.isEmpty() && !exportComparisonChart(file))
      QMessageBox::warning(this, "lowmem-studio", file + ": cannot write the image");
  });
  right->addWidget(exportButton, 0, Qt::AlignRight);
  layout->addLayout(right, 3);
  tabs_->addTab(page, "Compare");
}

bool SessionView::exportComparisonChart(const QString& file) const {
  if (!charts_) return false;
  if (!file.endsWith(".svg", Qt::CaseInsensitive)) return charts_->grab().save(file, "PNG");
  // Vector output: the charts paint themselves into the SVG generator.
  QSvgGenerator svg;
  svg.setFileName(file);
  svg.setSize(charts_->size());
  svg.setViewBox(QRect(QPoint(0, 0), charts_->size()));
  svg.setTitle("lowmem: peak before and after");
  QPainter painter;
  if (!painter.begin(&svg)) return false;
  charts_->render(&painter);
  return painter.end();
}

}  // namespace lowmem::ui
