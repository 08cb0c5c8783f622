#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>

#include "core/atomic_file.h"
#include "core/error.h"
#include "ui/model_page.h"
#include "ui/session_view.h"

namespace lowmem::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setObjectName("lowmemMainWindow");
  setWindowTitle("lowmem-studio");
  resize(1200, 800);
  setAcceptDrops(true);
  auto* welcome = new QLabel(this);
  welcome->setObjectName("welcome");
  welcome->setAlignment(Qt::AlignCenter);
  welcome->setTextFormat(Qt::RichText);
  welcome->setText(
      "<h2>lowmem-studio</h2>"
      "<p>Find the activation memory of a fine-tuning step and remove it with memory-sharing ops.</p>"
      "<p>Open a TorchScript model (.pt) to profile and patch it, or a session (.db) written by "
      "<code>lowmem profile</code>, <code>lowmem patch --session</code> or <code>lowmem demo</code>.<br>"
      "File &gt; Open, or drop a file here. From a terminal: <code>lowmem info MODEL.pt</code></p>");
  setCentralWidget(welcome);
  createMenus();
  statusBar()->showMessage("No model or session open");
}

void MainWindow::createMenus() {
  auto* file = menuBar()->addMenu("&File");
  auto* open = file->addAction("&Open...", this, &MainWindow::openDialog);
  open->setShortcut(QKeySequence::Open);
  open->setObjectName("actionOpen");
  recentMenu_ = file->addMenu("Open &Recent");
  fillRecentMenu();
  auto* diff = file->addAction("&Compare with another session...", this, &MainWindow::compareWithDialog);
  diff->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
  diff->setObjectName("actionCompareWith");
  auto* saveSession = file->addAction("&Save session as...", this, &MainWindow::saveSessionAs);
  saveSession->setObjectName("actionSaveSession");
  auto* saveModel = file->addAction("Save &patched model as...", this, &MainWindow::savePatchedModelAs);
  saveModel->setObjectName("actionSavePatched");
  file->addSeparator();
  auto* quit = file->addAction("&Quit", this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);
  quit->setObjectName("actionQuit");
  auto* help = menuBar()->addMenu("&Help");
  auto* keys = help->addAction("&Keyboard shortcuts", this, [this] {
    QMessageBox::information(this, "Keyboard shortcuts", SessionView::shortcutsText());
  });
  keys->setObjectName("actionShortcuts");
  help->addAction("&About lowmem-studio", this, &MainWindow::showAbout);
}

QString MainWindow::tryOpen(const QString& path) {
  try {
    if (path.endsWith(".db", Qt::CaseInsensitive)) {
      auto* view = new SessionView(path.toStdString(), this);
      connect(view, &SessionView::diffShown, this, [this](const QString& error) {
        if (!error.isEmpty()) QMessageBox::warning(this, "lowmem-studio", error);
      });
      setCentralWidget(view);
    } else {
      QFileInfo info(path);
      if (!info.isFile()) return path + ": no such file";
      auto* page = new ModelPage(path.toStdString(), this);
      connect(page, &ModelPage::finished, this, [this](bool ok, const QString& message) {
        if (ok) {
          statusBar()->showMessage("done");
        } else if (message != "cancelled") {
          statusBar()->showMessage("failed: " + message);
          if (!QApplication::platformName().contains("offscreen"))
            QMessageBox::warning(this, "lowmem-studio", message);
        }
      });
      setCentralWidget(page);
    }
  } catch (const std::exception& e) {
    return QString::fromStdString(firstLine(e.what()));
  }
  setWindowTitle("lowmem-studio - " + QFileInfo(path).fileName());
  statusBar()->showMessage(path);
  rememberRecent(path);
  return {};
}

bool MainWindow::openFile(const QString& path) {
  const QString error = tryOpen(path);
  if (error.isEmpty()) return true;
  QMessageBox::warning(this, "lowmem-studio", error);
  return false;
}

void MainWindow::openDialog() {
  const QString path = QFileDialog::getOpenFileName(this, "Open a model or a session", QString(),
                                                    "Models and sessions (*.pt *.db);;All files (*)");
  if (!path.isEmpty()) openFile(path);
}

void MainWindow::compareWithDialog() {
  auto* view = qobject_cast<SessionView*>(centralWidget());
  if (!view) {
    QMessageBox::information(this, "lowmem-studio", "Open a session first: its shown run is compared.");
    return;
  }
  const QString other = QFileDialog::getOpenFileName(this, "Compare with another session", QString(),
                                                     "Sessions (*.db);;All files (*)");
  if (other.isEmpty()) return;
  const QString error = view->compareWith(other);
  if (!error.isEmpty()) QMessageBox::warning(this, "lowmem-studio", error);
}

void MainWindow::saveSessionAs() {
  auto* page = qobject_cast<ModelPage*>(centralWidget());
  const QString source = page ? page->sessionFile() : QString();
  if (source.isEmpty() || !QFile::exists(source)) {
    QMessageBox::information(this, "lowmem-studio",
                             "Profile or patch a model first: there is no new session to save.");
    return;
  }
  const QString target =
      QFileDialog::getSaveFileName(this, "Save session as", "session.db", "Sessions (*.db)");
  if (target.isEmpty()) return;
  const QString error = saveCopyAs(source, target, {{"the model", page->modelFile().toStdString()}});
  if (!error.isEmpty()) QMessageBox::warning(this, "lowmem-studio", error);
}

void MainWindow::savePatchedModelAs() {
  auto* page = qobject_cast<ModelPage*>(centralWidget());
  const QString source = page ? page->patchedModelFile() : QString();
  if (source.isEmpty() || !QFile::exists(source)) {
    QMessageBox::information(this, "lowmem-studio",
                             "Run \"Suggest, patch and compare\" first: no verified patched model yet.");
    return;
  }
  const QString target = QFileDialog::getSaveFileName(
      this, "Save patched model as", QFileInfo(source).fileName(), "TorchScript models (*.pt)");
  if (target.isEmpty()) return;
  const QString error = saveCopyAs(
      source, target,
      {{"the model", page->modelFile().toStdString()}, {"the session", page->sessionFile().toStdString()}});
  if (!error.isEmpty()) QMessageBox::warning(this, "lowmem-studio", error);
}

QString saveCopyAs(const QString& source, const QString& target, std::vector<NamedPath> inputs) {
  try {
    inputs.push_back({"the file being saved", source.toStdString()});
    checkOutputs(inputs, {{"the copy", target.toStdString()}});
    copyFileAtomically(source.toStdString(), target.toStdString());
    return {};
  } catch (const std::exception& e) {
    return QString::fromStdString(firstLine(e.what()));
  }
}

void MainWindow::rememberRecent(const QString& path) {
  QSettings settings("lowmem", "lowmem-studio");
  QStringList recent = settings.value("recentFiles").toStringList();
  recent.removeAll(QFileInfo(path).absoluteFilePath());
  recent.prepend(QFileInfo(path).absoluteFilePath());
  while (recent.size() > 10)
    recent.removeLast();
  settings.setValue("recentFiles", recent);
  fillRecentMenu();
}

void MainWindow::fillRecentMenu() {
  recentMenu_->clear();
  const QStringList recent = QSettings("lowmem", "lowmem-studio").value("recentFiles").toStringList();
  for (const auto& path : recent)
    recentMenu_->addAction(path, this, [this, path] { openFile(path); });
  recentMenu_->setEnabled(!recent.isEmpty());
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (!urls.isEmpty() && urls.front().isLocalFile()) openFile(urls.front().toLocalFile());
}

void MainWindow::showAbout() {
  QMessageBox::about(
      this, "About lowmem-studio",
      "lowmem-studio " + QApplication::applicationVersion() +
          "\n\nReGELU2, ReSiLU2, MS-LN and MS-RMSNorm (arXiv 2406.16282) applied to TorchScript models.");
}

}  // namespace lowmem::ui
