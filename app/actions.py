"""The window's commands as data (napari's app-model in small): an `Action` has an id, a text, a
shortcut, a menu path, a group inside the menu and an enabled-when condition. `Actions` makes one
window-wide `QAction` per declared action and generates the menus and the F1 list from them;
nobody looks a menu up by its visible text or rewrites another module's globals.

    actions.add(Action("edit.undo", "&Undo", history_undo, "Ctrl+Z", menu="Edit", group="history",
                       enabled_when=lambda: history.can_undo))
    actions.refresh()            # re-evaluates every enabled-when (after a state change)
    actions["edit.undo"]         # the QAction (tests trigger it; text updates)
    actions.shortcut_rows()      # (keys, what) for the F1 list, in menu order

Menus appear in `MENU_ORDER` whatever installs them first; inside a menu, groups keep the order
in which they first appear, separated by separators. A menu path may name a submenu
("View/3D Rendering").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

#: top-level menus, left to right (a menu no action uses is not shown)
MENU_ORDER = (
    "File",
    "Edit",
    "Review",
    "Playback",
    "View",
    "Reconstruct",
    "Analysis",
    "Settings",
    "Help",
)
#: the menu bar's titles (with their keyboard accelerators)
MENU_TITLES = {
    "File": "&File",
    "Edit": "&Edit",
    "Review": "Re&view",
    "Playback": "&Playback",
    "View": "&View",
    "Reconstruct": "&Reconstruct",
    "Analysis": "&Analysis",
    "Settings": "&Settings",
    "Help": "&Help",
}

#: order of the groups inside a menu (groups not named here follow, in order of appearance)
MENU_GROUPS: dict[str, tuple[str, ...]] = {
    "File": ("open", "save", "quit"),
    "Edit": ("history", "range", "hand", "track", "escape"),
    "Review": ("marks", "jumps"),
    "Playback": ("play", "step"),
    "View": ("video", "3d", "timeline", "docks"),
    "Analysis": ("detect", "reference"),
}

Shortcut = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class Action:
    """One command of the window (see the module docstring)."""

    id: str
    text: str
    callback: Callable[..., object]
    shortcut: Shortcut | Sequence[Shortcut] | None = None
    menu: str | None = None  #: "File", or a submenu path "View/3D Rendering"; None: no menu
    group: str = ""  #: items of one group sit between separators
    tip: str = ""
    checkable: bool = False
    checked: bool = False
    enabled_when: Callable[[], bool] | None = None
    #: exclusive choice among the checkable actions of this name (radio items)
    exclusive: str = ""
    #: the F1 list's words for this action (default: its text); "" leaves it out
    help: str | None = None


@dataclass
class _MenuState:
    menu: QMenu
    order: tuple[str, ...] = ()
    groups: list[str] = field(default_factory=list)
    #: the first and the last action of each group
    starts: dict[str, QAction] = field(default_factory=dict)
    ends: dict[str, QAction] = field(default_factory=dict)

    def rank(self, group: str) -> int:
        return self.order.index(group) if group in self.order else len(self.order)


class Actions(QObject):
    """The declared actions of one window, and the menus made from them."""

    def __init__(self, window: QWidget, menubar: QMenuBar) -> None:
        super().__init__(window)
        self._window = window
        self._menubar = menubar
        self._specs: dict[str, Action] = {}
        self._actions: dict[str, QAction] = {}
        self._menus: dict[str, _MenuState] = {}
        self._exclusive: dict[str, QActionGroup] = {}
        #: F1 rows that are gestures rather than actions: (section, keys, what)
        self._gestures: list[tuple[str, str, str]] = []

    # ---------------------------------------------------------------- actions
    def add(self, spec: Action) -> QAction:
        """Declare an action: its QAction works window-wide (whichever dock has focus)."""
        if spec.id in self._specs:
            raise ValueError(f"action {spec.id!r} is declared twice")
        a = QAction(spec.text, self._window)
        a.setObjectName(spec.id)
        keys = _key_sequences(spec.shortcut)
        if keys:
            a.setShortcuts(keys)
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if spec.tip:
            a.setStatusTip(spec.tip)
        a.setCheckable(spec.checkable)
        if spec.checkable:
            a.setChecked(spec.checked)
        if spec.exclusive:
            group = self._exclusive.get(spec.exclusive)
            if group is None:
                group = self._exclusive[spec.exclusive] = QActionGroup(self)
                group.setExclusive(True)
            group.addAction(a)
        a.triggered.connect(spec.callback)
        self._window.addAction(a)
        self._specs[spec.id] = spec
        self._actions[spec.id] = a
        if spec.menu is not None:
            self._place(a, spec.menu, spec.group)
        if spec.enabled_when is not None:
            a.setEnabled(bool(spec.enabled_when()))
        return a

    def add_all(self, specs: Sequence[Action]) -> list[QAction]:
        return [self.add(s) for s in specs]

    def __getitem__(self, action_id: str) -> QAction:
        return self._actions[action_id]

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._actions

    def refresh(self) -> None:
        """Evaluate every enabled-when condition again."""
        for action_id, spec in self._specs.items():
            if spec.enabled_when is not None:
                self._actions[action_id].setEnabled(bool(spec.enabled_when()))

    def add_gesture(self, section: str, keys: str, what: str) -> None:
        """A line of the F1 list for a mouse gesture or a key no action owns."""
        self._gestures.append((section, keys, what))

    # ------------------------------------------------------------------ menus
    def menu(self, path: str, group: str = "") -> QMenu:
        """The menu at `path` ("Settings", or a submenu "View/3D Rendering" placed in `group`
        of its parent), made in its place if new. A submenu's owner may fill it (File > Open
        Recent is filled when shown)."""
        state = self._menus.get(path)
        if state is not None:
            return state.menu
        top, _, sub = path.rpartition("/")
        if top:
            parent = self.menu(top)
            menu = QMenu(sub, parent)
            self._insert(self._menus[top], menu.menuAction(), group)
        else:
            if sub not in MENU_ORDER:
                raise ValueError(f"unknown menu {sub!r}: add it to MENU_ORDER")
            menu = QMenu(MENU_TITLES[sub], self._menubar)
            later = [
                self._menus[m].menu.menuAction()
                for m in MENU_ORDER[MENU_ORDER.index(sub) + 1 :]
                if m in self._menus
            ]
            if later:
                self._menubar.insertMenu(later[0], menu)
            else:
                self._menubar.addMenu(menu)
        self._menus[path] = _MenuState(menu, MENU_GROUPS.get(path, ()))
        return menu

    def add_to_menu(self, path: str, action: QAction, group: str = "") -> None:
        """Put an action into a menu: a second place for a declared one, or a QAction made
        elsewhere (a dock's show/hide toggle)."""
        self._place(action, path, group)

    def _place(self, action: QAction, path: str, group: str) -> None:
        self.menu(path)
        self._insert(self._menus[path], action, group)

    def _insert(self, state: _MenuState, action: QAction, group: str) -> None:
        menu = state.menu
        if group in state.ends:  # after the group's last item
            acts = menu.actions()
            i = acts.index(state.ends[group])
            menu.insertAction(acts[i + 1] if i + 1 < len(acts) else None, action)
            state.ends[group] = action
            return
        later = [g for g in state.groups if state.rank(g) > state.rank(group)]
        if later:  # a new group before the first later one, a separator between them
            first = min(later, key=lambda g: menu.actions().index(state.starts[g]))
            before = state.starts[first]
            menu.insertAction(before, action)
            menu.insertSeparator(before)
        else:
            if state.groups:
                menu.addSeparator()
            menu.addAction(action)
        state.groups.append(group)
        state.starts[group] = state.ends[group] = action

    # --------------------------------------------------------------- F1 list
    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(keys, what) of every action with a shortcut, in menu order, then the gestures."""
        rows: list[tuple[str, str]] = []
        for spec in self._specs.values():
            keys = _key_sequences(spec.shortcut)
            if not keys or spec.help == "":
                continue
            text = (
                " / ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
                if keys
                else ""
            )
            rows.append((text, spec.help or spec.text.replace("&", "").rstrip(".")))
        rows += [(keys, what) for _section, keys, what in self._gestures]
        return rows


def _key_sequences(shortcut: Shortcut | Sequence[Shortcut] | None) -> list[QKeySequence]:
    if shortcut is None:
        return []
    items = [shortcut] if isinstance(shortcut, str | QKeySequence.StandardKey) else shortcut
    out: list[QKeySequence] = []
    for s in items:
        if isinstance(s, QKeySequence.StandardKey):
            out.extend(QKeySequence.keyBindings(s)[:1])
        else:
            out.append(QKeySequence(s))
    return out
