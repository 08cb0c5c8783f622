// lowmem-studio on the offscreen platform: the window opens and closes; a session written by `lowmem demo`
// opens in linked views; bad files give one-line errors; a model profiles and patches on a worker thread
// while the window stays responsive.

#include <QAction>
#include <QAreaSeries>
#include <QCategoryAxis>
#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineEdit>
#include <QLineSeries>
#include <QMenuBar>
#include <QProcess>
#include <QPushButton>
#include <QScatterSeries>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QTreeWidget>
#include <QTreeWidgetItemIterator>
#include <QValueAxis>
#include <QtTest/QtTest>
#include <algorithm>
#include <cmath>

#include "core/format.h"
#include "core/module_path.h"
#include "core/session_store.h"
#include "core/storage_bands.h"
#include "ui/activations_model.h"
#include "ui/icicle_view.h"
#include "ui/main_window.h"
#include "ui/model_page.h"
#include "ui/session_view.h"
#include "ui/storage_bands_view.h"

namespace {

QString fixture(const char* name) {
  return QString(qgetenv("LOWMEM_STUDIO_FIXTURES")) + "/" + name;
}

}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void opensAndCloses() {
    lowmem::ui::MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.windowTitle(), QString("lowmem-studio"));
    auto* welcome = window.findChild<QLabel*>("welcome");
    QVERIFY(welcome != nullptr);
    QVERIFY(welcome->text().contains("lowmem info"));
    auto* quit = window.findChild<QAction*>("actionQuit");
    QVERIFY(quit != nullptr);
    quit->trigger();
    QVERIFY(!window.isVisible());
  }

  void opensADemoSessionInLinkedViews() {
    lowmem::ui::MainWindow window;
    QCOMPARE(window.tryOpen(fixture("session.db")), QString());
    auto* view = window.findChild<lowmem::ui::SessionView*>("sessionView");
    QVERIFY(view != nullptr);
    QCOMPARE(static_cast<int>(view->runLabels().size()), 2);
    // Read on a worker: the window is back at once, the views fill when the run is read.
    QTRY_VERIFY_WITH_TIMEOUT(!view->loading(), 60000);
    auto* tabs = view->findChild<QTabWidget*>("sessionTabs");
    QStringList names;
    for (int i = 0; i < tabs->count(); ++i)
      names << tabs->tabText(i);
    QCOMPARE(names,
             QStringList({"Summary", "Timeline", "Bands", "Flame", "Modules", "Activations", "Compare"}));
    // Another session's run diffs against the shown one in a tab of its own; a bad file is one line naming
    // it.
    QSignalSpy diffs(view, &lowmem::ui::SessionView::diffShown);
    QCOMPARE(view->compareWith(fixture("session.db")), QString());
    QVERIFY(diffs.wait(60000));
    QCOMPARE(diffs.takeFirst().at(0).toString(), QString());
    QCOMPARE(tabs->tabText(tabs->count() - 1), QString("Diff: session.db"));
    const QString diff = view->findChild<QTextBrowser*>("diffPageText")->toPlainText();
    QVERIFY2(diff.contains("peak") && diff.contains("(+0.0%)") && !diff.contains("predicted peak"),
             qPrintable(diff));
    const QString refusal = view->compareWith(fixture("vit-tiny.pt"));
    QVERIFY2(refusal.startsWith(fixture("vit-tiny.pt")) && !refusal.contains('\n'), qPrintable(refusal));
    delete tabs->widget(tabs->count() - 1);  // removeTab would keep the page (and its charts) as a child
    auto* table = view->findChild<QTableView*>("activations");
    auto* rows = table->model();
    QVERIFY(rows->rowCount() > 0);
    // Sorted by bytes, largest first, through the proxy.
    QVERIFY(rows->index(0, 0).data(Qt::UserRole).toLongLong() >=
            rows->index(rows->rowCount() - 1, 0).data(Qt::UserRole).toLongLong());
    auto* modules = view->findChild<QTreeWidget*>("modules");
    QVERIFY(modules->topLevelItemCount() > 0);
    auto* chart = view->findChild<QChartView*>("timeline")->chart();
    QVERIFY(chart->series().size() >= 3);  // categories, peak, selection
    for (auto* s : chart->series()) {
      if (auto* line = qobject_cast<QLineSeries*>(s)) QVERIFY(line->count() <= 2000);
    }
    // The stacked timeline's top reaches exactly the session's peak; the module tree's root holds the
    // profile's total activations.
    lowmem::SessionReader reader(fixture("session.db").toStdString());
    const auto run = reader.load("baseline");
    double top = 0;
    for (auto* s : chart->series()) {
      if (auto* area = qobject_cast<QAreaSeries*>(s)) {
        for (const auto& p : area->upperSeries()->points())
          top = std::max(top, p.y());
      }
    }
    QCOMPARE(top, static_cast<double>(run.profile.peak().total) / 1048576.0);
    QTreeWidgetItem* root = nullptr;
    for (int i = 0; i < modules->topLevelItemCount(); ++i) {
      if (modules->topLevelItem(i)->text(0) == "(root)") root = modules->topLevelItem(i);
    }
    QVERIFY(root != nullptr);
    QCOMPARE(root->data(2, Qt::UserRole).toLongLong(),
             static_cast<qlonglong>(run.profile.moduleActivations.at("").inclusive));
    // Hovering at the peak names the total there and the largest storages alive.
    const double peakMs =
        static_cast<double>(run.profile.peak().timeNs - run.profile.timeline.front().timeNs) / 1e6;
    const QString hover = view->hoverTextAt(peakMs);
    QVERIFY2(hover.contains(QString::fromStdString(lowmem::formatBytes(run.profile.peak().total))),
             qPrintable(hover));
    QVERIFY(hover.count('\n') == 5);
    // Zoomed in, the arrow keys pan along time by a tenth of the view, and 0 resets.
    auto* timelineView = view->findChild<QChartView*>("timeline");
    timelineView->resize(800, 500);
    auto* timeAxis = qobject_cast<QValueAxis*>(chart->axes(Qt::Horizontal).front());
    QVERIFY(timeAxis != nullptr);
    const double fullMin = timeAxis->min(), fullMax = timeAxis->max();
    chart->zoom(4.0);
    const double zoomedMin = timeAxis->min(), width = timeAxis->max() - timeAxis->min();
    QVERIFY(width < (fullMax - fullMin) / 2);
    QTest::keyClick(timelineView, Qt::Key_Right);
    QVERIFY(std::abs(timeAxis->min() - (zoomedMin + width / 10)) < width * 1e-3);
    QTest::keyClick(timelineView, Qt::Key_0);
    QCOMPARE(timeAxis->min(), fullMin);
    // Selecting an activation marks its lifetime on the timeline.
    table->setCurrentIndex(rows->index(0, 0));
    QLineSeries* selected = nullptr;
    for (auto* s : chart->series()) {
      if (s->name() == "selected storage") selected = qobject_cast<QLineSeries*>(s);
    }
    QVERIFY(selected != nullptr);
    QCOMPARE(selected->count(), 2);
    QVERIFY(selected->at(1).x() >= selected->at(0).x());
    // ... inside the plot: above the peak, below the axis's top (it was drawn above the axis).
    auto* valueAxis = qobject_cast<QValueAxis*>(chart->axes(Qt::Vertical).front());
    QVERIFY(valueAxis != nullptr);
    QCOMPARE(valueAxis->min(), 0.0);
    QVERIFY(selected->at(0).y() > top);
    QVERIFY2(selected->at(0).y() < valueAxis->max(),
             qPrintable(QString("%1 >= %2").arg(selected->at(0).y()).arg(valueAxis->max())));
    // Every legend entry has a colour of its own: categories, the peak, the selection and each phase line.
    QList<QColor> colours;
    for (auto* s : chart->series()) {
      if (auto* area = qobject_cast<QAreaSeries*>(s)) colours << area->color();
      if (auto* peak = qobject_cast<QScatterSeries*>(s)) colours << peak->color();
      if (auto* line = qobject_cast<QLineSeries*>(s)) colours << line->pen().color();
    }
    QVERIFY(colours.size() >= 8);  // at least 3 categories, the peak, the selection and 3 phases
    for (int i = 0; i < colours.size(); ++i) {
      for (int j = i + 1; j < colours.size(); ++j)
        QVERIFY2(colours[i] != colours[j],
                 qPrintable(QString("legend colours %1 and %2 repeat").arg(i).arg(j)));
    }
    // A category is hidden by clicking its legend entry, and shown again by a second click.
    QAbstractSeries* activations = nullptr;
    for (auto* s : chart->series()) {
      if (s->name() == "activation") activations = s;
    }
    QVERIFY(activations != nullptr);
    auto markers = chart->legend()->markers(activations);
    QCOMPARE(markers.size(), 1);
    Q_EMIT markers.front()->clicked();
    QVERIFY(!activations->isVisible());
    QVERIFY(markers.front()->isVisible());
    Q_EMIT markers.front()->clicked();
    QVERIFY(activations->isVisible());
    // The filter hides rows that do not match.
    auto* filter = view->findChild<QLineEdit*>("activationFilter");
    const int unfiltered = rows->rowCount();
    filter->setText("no such op anywhere");
    QCOMPARE(rows->rowCount(), 0);
    // ... and keeps the rows whose op, module, holder or reason contain the text, in any case.
    filter->setText("RELEASED BY");
    QVERIFY(rows->rowCount() > 0);
    for (int r = 0; r < rows->rowCount(); ++r)
      QVERIFY(
          rows->index(r, lowmem::ui::ActivationsModel::kReason).data().toString().contains("released by"));
    filter->clear();
    QCOMPARE(rows->rowCount(), unfiltered);
    // The compare view's chart exports as PNG.
    QTemporaryDir out;
    QVERIFY(view->exportComparisonChart(out.filePath("chart.png")));
    QVERIFY(QImage(out.filePath("chart.png")).width() > 100);
    // ... and as SVG: a vector file holding the charts' text.
    QVERIFY(view->exportComparisonChart(out.filePath("chart.svg")));
    QFile svg(out.filePath("chart.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray svgText = svg.readAll();
    QVERIFY(svgText.contains("<svg"));
    QVERIFY(svgText.contains("baseline"));
    // The before/after chart is aligned by phase; wall time is an option, and back.
    auto* comparePage = view->findChild<QWidget*>("comparePage");
    auto* compareTimeline = comparePage->findChild<QChartView*>("compareTimeline");
    QVERIFY(compareTimeline != nullptr);
    auto* phases = qobject_cast<QCategoryAxis*>(compareTimeline->chart()->axes(Qt::Horizontal).front());
    QVERIFY(phases != nullptr);
    // One unit a phase, each labelled: the axis spans exactly the phases it names.
    QCOMPARE(phases->min(), 0.0);
    QCOMPARE(phases->max(), static_cast<double>(phases->count()));
    QVERIFY(phases->count() >= 3);
    comparePage->findChild<QCheckBox*>("wallTime")->setChecked(true);
    auto* msAxis = qobject_cast<QValueAxis*>(compareTimeline->chart()->axes(Qt::Horizontal).front());
    QVERIFY(msAxis != nullptr);
    QVERIFY(msAxis->titleText().startsWith("wall time"));
    // Both curves end within the axis: the longer run's last event, in ms, is inside it.
    const auto patchedRun = reader.load("patched");
    const double longest =
        std::max(run.profile.timeline.back().timeNs - run.profile.timeline.front().timeNs,
                 patchedRun.profile.timeline.back().timeNs - patchedRun.profile.timeline.front().timeNs) /
        1e6;
    QVERIFY2(msAxis->max() >= longest, qPrintable(QString("%1 < %2").arg(msAxis->max()).arg(longest)));
    comparePage->findChild<QCheckBox*>("wallTime")->setChecked(false);
    QVERIFY(qobject_cast<QCategoryAxis*>(compareTimeline->chart()->axes(Qt::Horizontal).front()) != nullptr);
    // The patched run has fewer activations to list.
    const int baselineRows = rows->rowCount();
    QSignalSpy shown(view, &lowmem::ui::SessionView::runShown);
    view->showRun(1);
    QVERIFY(view->loading());
    QVERIFY(shown.wait(60000));
    QCOMPARE(shown.takeFirst().at(0).toInt(), 1);
    QVERIFY(rows->rowCount() < baselineRows);
  }

  // The views beyond the chart: bands of the largest storages whose top is the total, an icicle whose click
  // filters the table and the bands, a module tree with types and search, shortcuts; and every view renders
  // something (not a blank page) at the screenshot size.
  void bandsFlameModulesAndShortcuts() {
    lowmem::ui::MainWindow window;
    QCOMPARE(window.tryOpen(fixture("session.db")), QString());
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto* view = window.findChild<lowmem::ui::SessionView*>("sessionView");
    QTRY_VERIFY_WITH_TIMEOUT(!view->loading(), 60000);
    lowmem::SessionReader reader(fixture("session.db").toStdString());
    const auto run = reader.load("baseline");
    auto* tabs = view->tabs();

    // Bands: at the peak the highest band's top is the total, computed here from the profile.
    auto* bands = view->findChild<lowmem::ui::StorageBandsView*>("bands");
    QVERIFY(bands != nullptr);
    const auto& b = bands->bands();
    QVERIFY(!b.bands.empty());
    const size_t peak = run.profile.peakPoint;
    int64_t top = 0;
    for (const auto& s : b.others)
      if (s.point <= peak) top = s.bottom;
    for (const auto& band : b.bands) {
      if (band.firstPoint <= peak && peak < band.endPoint) top += run.profile.storages[band.storage].bytes;
    }
    QCOMPARE(top, run.profile.peak().total);
    // Hovering the largest band at its first point names its bytes.
    tabs->setCurrentWidget(bands);
    const auto& first = *std::max_element(b.bands.begin(), b.bands.end(), [&](const auto& x, const auto& y) {
      return run.profile.storages[x.storage].bytes < run.profile.storages[y.storage].bytes;
    });
    const auto& storage = run.profile.storages[first.storage];
    const QPointF inside =
        bands->toWidget(static_cast<double>(first.firstPoint) + 0.5,
                        static_cast<double>(lowmem::bandBottomAt(first, first.firstPoint)) +
                            static_cast<double>(storage.bytes) / 2);
    QVERIFY(storage.bytes * 100 > run.profile.peak().total);  // tall enough to aim at
    const QString tip = bands->toolTipAt(inside);
    QVERIFY2(tip.startsWith(QString::fromStdString(lowmem::formatBytes(storage.bytes))), qPrintable(tip));
    // Clicking it selects the storage (and its row, when it is an activation).
    QTest::mouseClick(bands, Qt::LeftButton, {}, inside.toPoint());
    QCOMPARE(bands->selectedStorage(), static_cast<int64_t>(first.storage));

    // Flame: clicking the largest child of the root filters the table and the bands to that module.
    auto* icicle = view->findChild<lowmem::ui::IcicleView*>("icicle");
    tabs->setCurrentWidget(icicle);
    QVERIFY(icicle->boxes().size() > 2);
    const auto& child = icicle->boxes()[1];
    QCOMPARE(child.depth, 1);
    QTest::mouseClick(icicle, Qt::LeftButton, {}, icicle->boxRect(1).center().toPoint());
    const QString path = QString::fromStdString(child.path);
    QCOMPARE(view->moduleFilter(), path);
    auto* rows = view->findChild<QTableView*>("activations")->model();
    QVERIFY(rows->rowCount() > 0);
    int64_t listed = 0;
    for (int r = 0; r < rows->rowCount(); ++r) {
      QVERIFY(lowmem::isWithin(
          rows->index(r, lowmem::ui::ActivationsModel::kModule).data().toString().toStdString(), child.path));
      listed += rows->index(r, 0).data(Qt::UserRole).toLongLong();
    }
    // The table lists every activation of the module (alive at backward's start or not): at least its share.
    QVERIFY(listed >= child.inclusive);
    QVERIFY(icicle->toolTipAt(icicle->boxRect(1).center()).startsWith(path));
    QTest::keyClick(view->findChild<QTableView*>("activations"), Qt::Key_Escape);
    QTRY_COMPARE(view->moduleFilter(), QString());

    // Modules: types shown, search keeps matches and their ancestors.
    auto* modules = view->findChild<QTreeWidget*>("modules");
    QStringList types;
    for (QTreeWidgetItemIterator it(modules); *it; ++it)
      if (!(*it)->text(1).isEmpty()) types << (*it)->text(1);
    QVERIFY2(!types.isEmpty(), "no module types shown");
    const QString type = types.last();
    view->findChild<QLineEdit*>("moduleSearch")->setText(type);
    int shown = 0;
    for (QTreeWidgetItemIterator it(modules); *it; ++it) {
      if ((*it)->isHidden()) continue;
      ++shown;
      bool matchBelow = (*it)->text(1).contains(type, Qt::CaseInsensitive) ||
                        (*it)->data(0, Qt::UserRole).toString().contains(type, Qt::CaseInsensitive);
      for (QTreeWidgetItemIterator below(*it); *below && !matchBelow; ++below)
        matchBelow = (*below)->text(1).contains(type, Qt::CaseInsensitive);
      QVERIFY(matchBelow);
    }
    QVERIFY(shown > 0);
    view->findChild<QLineEdit*>("moduleSearch")->clear();

    // Ctrl+N shows the N-th view.
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    tabs->setCurrentIndex(0);
    view->findChild<QComboBox*>("runBox")->setFocus();
    QTest::keyClick(view->findChild<QComboBox*>("runBox"), Qt::Key_3, Qt::ControlModifier);
    QCOMPARE(tabs->currentIndex(), 2);
    QVERIFY(lowmem::ui::SessionView::shortcutsText().contains("Ctrl+F"));

    // Each view paints more than a background.
    for (int i = 0; i < tabs->count(); ++i) {
      tabs->setCurrentIndex(i);
      QApplication::processEvents();
      const QImage image = tabs->currentWidget()->grab().toImage();
      QVERIFY(image.width() > 400 && image.height() > 300);
      QSet<QRgb> colours;
      for (int y = 0; y < image.height(); y += 7)
        for (int x = 0; x < image.width(); x += 7)
          colours.insert(image.pixel(x, y));
      QVERIFY2(colours.size() > 8,
               qPrintable(tabs->tabText(i) + QString(": %1 colours").arg(colours.size())));
    }
  }

  // A session written only by `plan -o` and `validate -o` opens in their tabs: text and chart each.
  void opensASessionOfOnlyAPlanAndAValidation() {
    QTemporaryDir dir;
    const QString session = dir.filePath("records.db");
    const QString model = fixture("vit-tiny.pt");
    QProcess cli;
    cli.start(QString(qgetenv("LOWMEM_BIN")),
              {"-q", "plan", model, "--trainable", "lora", "--batch", "6", "-o", session});
    QVERIFY(cli.waitForFinished(120000));
    QCOMPARE(cli.exitCode(), 0);
    cli.start(QString(qgetenv("LOWMEM_BIN")), {"-q", "validate", "--threads", "1", model, "--trainable",
                                               "lora", "--steps", "4", "--seeds", "2", "-o", session});
    QVERIFY(cli.waitForFinished(120000));
    QVERIFY2(cli.exitCode() == 0 || cli.exitCode() == 1 || cli.exitCode() == 4,
             cli.readAllStandardError().constData());
    lowmem::ui::MainWindow window;
    QCOMPARE(window.tryOpen(session), QString());
    auto* view = window.findChild<lowmem::ui::SessionView*>("sessionView");
    QVERIFY(!view->loading());
    QStringList names;
    for (int i = 0; i < view->tabs()->count(); ++i)
      names << view->tabs()->tabText(i);
    QCOMPARE(names, QStringList({"Plan", "Validation"}));
    QVERIFY(view->findChild<QTextBrowser*>("planText")->toPlainText().contains("batch 6"));
    QCOMPARE(view->findChild<QChartView*>("planChart")->chart()->series().size(), 3);  // no budget line
    QVERIFY(view->findChild<QTextBrowser*>("validationText")->toPlainText().contains("over 4 steps"));
    // The held-out points are drawn: two dashed curves (mean over the seeds) beside the training losses.
    QStringList curves;
    for (auto* chart : view->findChildren<QChartView*>()) {
      for (auto* series : chart->chart()->series())
        curves << series->name();
    }
    QVERIFY2(curves.contains("original, held out (mean over seeds)"), qPrintable(curves.join(" | ")));
    QVERIFY2(curves.contains("patched, held out (mean over seeds)"), qPrintable(curves.join(" | ")));
  }

  void savesCopiesWithoutTouchingInputs() {
    QTemporaryDir dir;
    const auto write = [&](const QString& name, const QByteArray& bytes) {
      QFile f(dir.filePath(name));
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(bytes);
    };
    const auto read = [&](const QString& name) {
      QFile f(dir.filePath(name));
      return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    };
    write("model.pt", "the user's model");
    write("patched.pt", "the patched model");
    write("old.pt", "an older copy");
    QVERIFY(QFile::link(dir.filePath("model.pt"), dir.filePath("model-link.pt")));
    const std::vector<lowmem::NamedPath> inputs = {{"the model", dir.filePath("model.pt").toStdString()}};
    // Onto the model (or a link to it) or onto itself: refused, nothing changes.
    for (const char* target : {"model.pt", "model-link.pt", "patched.pt"}) {
      const QString error = lowmem::ui::saveCopyAs(dir.filePath("patched.pt"), dir.filePath(target), inputs);
      QVERIFY2(error.contains("a file of its own"), qPrintable(error));
      QVERIFY(!error.contains('\n'));
    }
    QCOMPARE(read("model.pt"), QByteArray("the user's model"));
    QCOMPARE(read("patched.pt"), QByteArray("the patched model"));
    // Over an older file: replaced whole; into a missing directory: refused with the old file kept.
    QCOMPARE(lowmem::ui::saveCopyAs(dir.filePath("patched.pt"), dir.filePath("old.pt"), inputs), QString());
    QCOMPARE(read("old.pt"), QByteArray("the patched model"));
    QVERIFY(!lowmem::ui::saveCopyAs(dir.filePath("patched.pt"), dir.filePath("none/x.pt"), inputs).isEmpty());
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden).size(), 4);  // no temporary left
  }

  void refusesBadFilesWithOneLine() {
    {
      // A text file named .pt is refused on open, with its name.
      lowmem::ui::MainWindow window;
      QTemporaryDir dir;
      QFile bad(dir.filePath("bad.pt"));
      QVERIFY(bad.open(QIODevice::WriteOnly));
      bad.write("not a model");
      bad.close();
      const QString error = window.tryOpen(dir.filePath("bad.pt"));
      QVERIFY(error.contains("bad.pt"));
      QVERIFY(window.findChild<lowmem::ui::ModelPage*>() == nullptr);
    }
    lowmem::ui::MainWindow window;
    QTemporaryDir dir;
    const QString missing = dir.filePath("none.db");
    QString error = window.tryOpen(missing);
    QVERIFY(error.contains(missing));
    QVERIFY(!error.contains('\n'));
    QFile text(dir.filePath("text.db"));
    QVERIFY(text.open(QIODevice::WriteOnly));
    text.write("not a database, only text, and long enough to be read as a header\n");
    text.close();
    error = window.tryOpen(dir.filePath("text.db"));
    QVERIFY(!error.isEmpty());
    QVERIFY(!error.contains('\n'));
    QVERIFY(window.findChild<lowmem::ui::SessionView*>() == nullptr);
  }

  void profilesAndPatchesAModelOnAWorkerThread() {
    lowmem::ui::MainWindow window;
    QCOMPARE(window.tryOpen(fixture("vit-tiny.pt")), QString());
    auto* page = window.findChild<lowmem::ui::ModelPage*>("modelPage");
    QVERIFY(page != nullptr);
    auto* inputs = page->findChild<QLineEdit*>("inputs");
    auto* profile = page->findChild<QPushButton*>("profileButton");
    // The form starts where the CLI does: the model's recorded input, the saved trainable flags.
    QVERIFY2(inputs->text().startsWith("x:float32["), qPrintable(inputs->text()));
    QCOMPARE(page->findChild<QComboBox*>("trainable")->currentText(), QString("saved"));
    QCOMPARE(page->findChild<QComboBox*>("dtype")->currentText(), QString("as saved"));
    // Validated as you type.
    inputs->setText("x:float32[2,3,32");
    // Said by the form's own label, not by a flag the GUI user never typed.
    const QString refusal = page->findChild<QLabel*>("specError")->text();
    QVERIFY2(refusal.startsWith("Inputs: 'x:float32[2,3,32' is not NAME:DTYPE"), qPrintable(refusal));
    QVERIFY(!profile->isEnabled());
    inputs->setText("x:float32[2,3,32,32]");
    QVERIFY(page->findChild<QLabel*>("specError")->text().isEmpty());
    QVERIFY(profile->isEnabled());

    QSignalSpy done(page, &lowmem::ui::ModelPage::finished);
    profile->click();
    QVERIFY(page->busy());
    QVERIFY(done.wait(120000));
    QCOMPARE(done.takeFirst().at(0).toBool(), true);
    QVERIFY(page->sessionView() != nullptr);
    QCOMPARE(static_cast<int>(page->sessionView()->runLabels().size()), 1);

    // The Plan row's own mistakes are refused at once, naming the field.
    page->findChild<QLineEdit*>("planBatches")->setText("6 x");
    page->findChild<QPushButton*>("planButton")->click();
    QCOMPARE(done.count(), 1);
    QCOMPARE(done.takeFirst().at(1).toString(), QString("Plan batches: 'x' is not a batch size"));
    page->findChild<QLineEdit*>("planBatches")->setText("6");
    page->findChild<QLineEdit*>("planBudget")->setText("lots");
    page->findChild<QPushButton*>("planButton")->click();
    QCOMPARE(done.count(), 1);
    QCOMPARE(done.takeFirst().at(1).toString(),
             QString("Plan budget: 'lots' is not a size such as 24GiB or 80GB"));
    // Plan predicts the asked batches and shows the chart and the text `lowmem plan` prints.
    page->findChild<QLineEdit*>("planBatches")->setText("6 12");
    page->findChild<QLineEdit*>("planBudget")->setText("8MiB");
    page->findChild<QPushButton*>("planButton")->click();
    QVERIFY(done.wait(120000));
    const auto planned = done.takeFirst();
    QVERIFY2(planned.at(0).toBool(), qPrintable(planned.at(1).toString()));
    auto* planText = page->findChild<QTextBrowser*>("planText");
    QVERIFY(planText != nullptr);
    QVERIFY2(
        planText->toPlainText().contains("batch 12") && planText->toPlainText().contains("largest     batch"),
        qPrintable(planText->toPlainText()));
    auto* planChart = page->findChild<QChartView*>("planChart");
    QVERIFY(planChart != nullptr);
    QCOMPARE(planChart->chart()->series().size(), 4);  // as it is, with swaps, traced, budget
    QVERIFY(page->sessionView() == nullptr);
    // A cancelled run leaves the page usable and shows nothing new.
    page->findChild<QPushButton*>("profileButton")->click();
    page->cancel();
    QVERIFY(done.wait(120000));
    QCOMPARE(done.takeFirst().at(1).toString(), QString("cancelled"));
    QVERIFY(profile->isEnabled());

    // Suggest lists every site with check boxes; Apply patches the checked ones, verifies and compares.
    page->findChild<QPushButton*>("suggestButton")->click();
    QVERIFY(done.wait(120000));
    QCOMPARE(done.takeFirst().at(0).toBool(), true);
    auto* sites = page->findChild<QTableWidget*>("sites");
    QCOMPARE(sites->rowCount(), 9);  // per block norm1, attention, norm2, GELU; the final norm
    int attentionRows = 0;
    for (int r = 0; r < sites->rowCount(); ++r) {
      for (int c = 0; c < sites->columnCount(); ++c)
        attentionRows += sites->item(r, c) && sites->item(r, c)->text() == "attention";
    }
    QCOMPARE(attentionRows, 2);
    // The predicted peak and the checkpointing price, as `lowmem suggest` prints them under its table.
    const QString summary = page->findChild<QLabel*>("suggestionSummary")->text();
    QVERIFY2(summary.startsWith("baseline peak") && summary.contains("predicted peak") &&
                 summary.contains("checkpointing"),
             qPrintable(summary));
    int checked = 0;
    for (int r = 0; r < sites->rowCount(); ++r)
      checked += sites->item(r, 0)->checkState() == Qt::Checked;
    QVERIFY(checked > 0);
    page->findChild<QPushButton*>("patchButton")->click();
    QVERIFY(done.wait(120000));
    const auto result = done.takeFirst();
    QVERIFY2(result.at(0).toBool(), qPrintable(result.at(1).toString()));
    QVERIFY(QFile::exists(page->patchedModelFile()));
    QTRY_VERIFY_WITH_TIMEOUT(!page->sessionView()->loading(), 60000);
    auto* tabs = page->sessionView()->tabs();
    QCOMPARE(tabs->tabText(tabs->count() - 1), QString("Compare"));
    // The compare view says what `lowmem compare` says of the same session.
    QProcess cli;
    cli.start(QString(qgetenv("LOWMEM_BIN")), {"compare", page->sessionFile()});
    QVERIFY(cli.waitForFinished(60000));
    QCOMPARE(cli.exitCode(), 0);
    auto* compareText = page->sessionView()->findChild<QTextBrowser*>("compareText");
    QVERIFY(compareText != nullptr);
    QCOMPARE(compareText->toPlainText().trimmed(), QString::fromUtf8(cli.readAllStandardOutput()).trimmed());
  }
};

QTEST_MAIN(MainWindowTest)
#include "main_window_test.moc"
