// lowmem-studio's window opens, shows its welcome page and closes through File > Quit (offscreen platform).

#include <QAction>
#include <QLabel>
#include <QMenuBar>
#include <QtTest/QtTest>

#include "ui/main_window.h"

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
};

QTEST_MAIN(MainWindowTest)
#include "main_window_test.moc"
