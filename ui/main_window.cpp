#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>

namespace lowmem::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setObjectName("lowmemMainWindow");
  setWindowTitle("lowmem-studio");
  resize(1200, 800);
  auto* welcome = new QLabel(this);
  welcome->setObjectName("welcome");
  welcome->setAlignment(Qt::AlignCenter);
  welcome->setTextFormat(Qt::RichText);
  welcome->setText(
      "<h2>lowmem-studio</h2>"
      "<p>Find the activation memory of a fine-tuning step and remove it with memory-sharing ops.</p>"
      "<p>Inspect a model from a terminal: <code>lowmem info MODEL.pt</code></p>");
  setCentralWidget(welcome);
  createMenus();
  statusBar()->showMessage("No model or session open");
}

void MainWindow::createMenus() {
  auto* file = menuBar()->addMenu("&File");
  auto* quit = file->addAction("&Quit", this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);
  quit->setObjectName("actionQuit");
  auto* help = menuBar()->addMenu("&Help");
  help->addAction("&About lowmem-studio", this, &MainWindow::showAbout);
}

void MainWindow::showAbout() {
  QMessageBox::about(
      this, "About lowmem-studio",
      "lowmem-studio " + QApplication::applicationVersion() +
          "\n\nReGELU2, ReSiLU2, MS-LN and MS-RMSNorm (arXiv 2406.16282) applied to TorchScript models.");
}

}  // namespace lowmem::ui
