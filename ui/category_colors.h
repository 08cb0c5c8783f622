#pragma once
// The colours every view gives the storage categories (Tableau's ten, less the two the timeline's peak and
// selection use): one per category, so a legend never repeats a colour.

#include <QColor>

#include "core/profile.h"

namespace lowmem::ui {

inline QColor categoryColor(Category c) {
  static const QColor colors[kCategoryCount] = {
      QColor(78, 121, 167), QColor(89, 161, 79),   QColor(156, 117, 95), QColor(242, 142, 43),
      QColor(225, 87, 89),  QColor(118, 183, 178), QColor(237, 201, 72), QColor(186, 176, 172)};
  return colors[static_cast<size_t>(c) % kCategoryCount];
}

// The selected storage's colour, which no category has.
inline QColor selectionColor() {
  return QColor(176, 122, 161);
}

}  // namespace lowmem::ui
