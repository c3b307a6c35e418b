//! Why the engine refused a command. A refused command changes nothing.

use onestop_model::{BookingId, ServiceId, StaffId, TicketNo, WindowNo};

/// A command the engine refused, with a message for staff: Chinese first, English second.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("本厅不办理该事项 / service '{0}' is not offered in this hall")]
    ServiceNotOffered(ServiceId),
    #[error(
        "此卡已有 {existing} 号在办理该事项 / this card already holds ticket {existing} for this service"
    )]
    AlreadyQueued { existing: TicketNo },
    #[error("该预约已签到 / booking {0} has already been checked in")]
    BookingUsed(BookingId),
    #[error(
        "预约时段未到，请于 {opens_hm} 后签到 / too early for this booking: check-in opens at {opens_hm}"
    )]
    BookingTooEarly { opens_hm: String },
    #[error(
        "预约已过签到时间（{closed_hm}），请取普通号 / booking check-in closed at {closed_hm}: take a walk-in ticket"
    )]
    BookingTooLate { closed_hm: String },
    #[error("没有 {0} 号窗口 / there is no window {0}")]
    UnknownWindow(WindowNo),
    #[error("{0} 号窗口未签到 / window {0} is not checked in")]
    WindowClosed(WindowNo),
    #[error("{window} 号窗口已由 {staff} 签到 / window {window} is already checked in by {staff}")]
    WindowTaken { window: WindowNo, staff: StaffId },
    #[error("{staff} 已在 {window} 号窗口签到 / {staff} is already checked in at window {window}")]
    StaffBusy { staff: StaffId, window: WindowNo },
    #[error("工作人员 {0} 不能在本厅窗口签到 / staff member {0} may not work at this hall's windows")]
    UnknownStaff(StaffId),
    #[error("{0} 号窗口暂停中 / window {0} is paused")]
    WindowPaused(WindowNo),
    #[error("{0} 号窗口未暂停 / window {0} is not paused")]
    NotPaused(WindowNo),
    #[error("请填写暂停原因 / a pause needs a reason")]
    NoPauseReason,
    #[error(
        "{window} 号窗口正在办理 {ticket}，请先办结或转移 / window {window} is still serving {ticket}: finish or transfer it first"
    )]
    Busy { window: WindowNo, ticket: TicketNo },
    #[error("{0} 号窗口当前没有叫号 / window {0} has no called ticket")]
    NothingCalled(WindowNo),
    #[error(
        "{window} 号窗口的 {ticket} 尚未开始办理 / ticket {ticket} at window {window} has not been started"
    )]
    NotStarted { window: WindowNo, ticket: TicketNo },
    #[error(
        "{window} 号窗口的 {ticket} 已开始办理 / ticket {ticket} at window {window} is already being served"
    )]
    AlreadyStarted { window: WindowNo, ticket: TicketNo },
    #[error("{0} 号窗口没有等候的号 / nobody is waiting for window {0}")]
    NoneWaiting(WindowNo),
    #[error("今天没有 {0} 号 / there is no ticket {0} today")]
    UnknownTicket(TicketNo),
    #[error("{ticket} 不在等候中 / ticket {ticket} is not waiting")]
    NotWaiting { ticket: TicketNo },
    #[error(
        "{window} 号窗口不办理 {ticket} 的事项 / window {window} does not serve ticket {ticket}'s service"
    )]
    NotServedHere { window: WindowNo, ticket: TicketNo },
    #[error("{0} 不是过号票，无需恢复 / ticket {0} is not a no-show")]
    NotNoShow(TicketNo),
    #[error("不能转移到本窗口 / a ticket cannot be transferred to the window it is at")]
    TransferToSelf,
    #[error("{0} 号窗口没有待评价的业务 / window {0} has no finished case waiting for a rating")]
    NothingToRate(WindowNo),
}
