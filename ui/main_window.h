#pragma once
// lowmem-studio's top-level window. Qt only: LibTorch never enters ui/ (its `slots` macro clashes with Qt's).

#include <QMainWindow>

namespace lowmem::ui {

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);

 private:
  void createMenus();
  void showAbout();
};

}  // namespace lowmem::ui
