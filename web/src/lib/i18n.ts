// The pages' own words (zh-CN by default, English on request). Everything that comes from
// the API (states, levels, roles, errors, region names) arrives already in the viewer's
// language through Accept-Language.
import { useSyncExternalStore } from "react";
import { store } from "./store";

export type Locale = "zh-CN" | "en";

const zh = {
  app: "涉企问题闭环",
  cockpit: "驾驶舱",
  track: "问题追踪",
  workbench: "工作台",
  signIn: "登录",
  signOut: "退出",
  signInAgain: "登录已过期，请重新登录（已填写的内容会保留）",
  demoAccounts: "演示账号",
  demoHint: "演示模式：选择一个账号登录",
  oidc: "通过统一身份认证登录",
  noSignIn: "未配置登录方式",
  period: "统计周期",
  loading: "加载中…",
  notFound: "未找到",
  notFoundRegion: "该地区不存在",
  retry: "重试",
  back: "返回",
  live: "实时",
  offline: "未连接",
  lastEvent: "最近事件",
  heldPerTier: "各层级在办",
  funnel: "处置环节",
  lights: "亮灯预警",
  yellow: "黄灯",
  red: "红灯",
  keyRates: "核心指标",
  trend: "月度趋势",
  childRanking: "下级地区 8+X 排名",
  deptRanking: "部门 8+X 排名",
  redList: "红榜",
  blackList: "黑榜",
  problemLists: "推送七张问题清单",
  receipt: "回执",
  topTags: "十大热点问题",
  total: "问题总数",
  open: "在办",
  resolved: "已办结",
  score: "得分",
  rank: "名次",
  none: "暂无",
  stageIntake: "受理",
  stageTriage: "研判",
  stageHandling: "处置中",
  stageResolved: "已办结",
  stageClosed: "已关闭",
  resolutionRate: "办结率",
  satisfactionRate: "满意率",
  overdueRate: "超时办结率",
  recurrenceRate: "重发复发率",
  proactiveRate: "主动发现率",
  submitIssue: "反映问题",
  title: "标题",
  content: "内容",
  category: "类别",
  submit: "提交",
  myIssues: "我的问题",
  due: "办理时限",
  remaining: "剩余",
  overdueBy: "已超时",
  urge: "催单",
  urgeAgainAt: "可再次催单：",
  rate: "评价",
  comment: "意见",
  reopen: "申请重办",
  reason: "理由",
  timeline: "办理轨迹",
  custody: "承办台账",
  actions: "可执行操作",
  noActions: "当前无可执行操作",
  pool: "问题池",
  onlyPool: "仅本级问题池",
  allLights: "全部亮灯",
  search: "搜索",
  more: "更多",
  choose: "请选择",
  done: "操作成功",
  held: "承办时长",
  overdue: "超时",
  holder: "承办方",
  level: "层级",
  days: "天",
  hours: "小时",
  minutes: "分",
  select: "选择一个问题查看详情",
};

type Words = typeof zh;

const en: Words = {
  app: "closedloop",
  cockpit: "Cockpit",
  track: "Tracker",
  workbench: "Workbench",
  signIn: "Sign in",
  signOut: "Sign out",
  signInAgain: "Your session expired. Sign in again (what you typed is kept)",
  demoAccounts: "Demo accounts",
  demoHint: "Demo mode: pick an account",
  oidc: "Sign in with the identity provider",
  noSignIn: "No sign-in method is configured",
  period: "Period",
  loading: "Loading…",
  notFound: "Not found",
  notFoundRegion: "No such region",
  retry: "Retry",
  back: "Back",
  live: "live",
  offline: "offline",
  lastEvent: "last event",
  heldPerTier: "Held per tier",
  funnel: "Stages",
  lights: "Lights",
  yellow: "Yellow",
  red: "Red",
  keyRates: "Key rates",
  trend: "Monthly trend",
  childRanking: "Regions on the 8+X index",
  deptRanking: "Departments on the 8+X index",
  redList: "Red list",
  blackList: "Black list",
  problemLists: "Pushed to the seven problem lists",
  receipt: "receipt",
  topTags: "Top 10 problems",
  total: "Issues",
  open: "Open",
  resolved: "Resolved",
  score: "Score",
  rank: "Rank",
  none: "None",
  stageIntake: "Taken in",
  stageTriage: "Triage",
  stageHandling: "Handling",
  stageResolved: "Resolved",
  stageClosed: "Closed",
  resolutionRate: "Resolution",
  satisfactionRate: "Satisfaction",
  overdueRate: "Overdue",
  recurrenceRate: "Recurrence",
  proactiveRate: "Proactive",
  submitIssue: "Report a problem",
  title: "Title",
  content: "Details",
  category: "Category",
  submit: "Submit",
  myIssues: "My issues",
  due: "Due",
  remaining: "left",
  overdueBy: "overdue by",
  urge: "Urge",
  urgeAgainAt: "Urge again at ",
  rate: "Rate",
  comment: "Comment",
  reopen: "Ask to reopen",
  reason: "Reason",
  timeline: "Timeline",
  custody: "Custody ledger",
  actions: "Actions",
  noActions: "Nothing you can do on it now",
  pool: "Pool",
  onlyPool: "My tier's pool only",
  allLights: "All lights",
  search: "Search",
  more: "More",
  choose: "Choose",
  done: "Done",
  held: "Held",
  overdue: "Overdue",
  holder: "Holder",
  level: "Level",
  days: "d",
  hours: "h",
  minutes: "min",
  select: "Pick an issue to see it",
};

const dictionaries: Record<Locale, Words> = { "zh-CN": zh, en };

export const locale = store<Locale>("zh-CN");

export function useLocale(): Locale {
  return useSyncExternalStore(locale.subscribe, locale.get);
}

export function useWords(): Words {
  return dictionaries[useLocale()];
}

export function formatDateTime(iso: string | null | undefined, loc: Locale): string {
  if (!iso) return "";
  return new Date(iso).toLocaleString(loc, {
    timeZone: "Asia/Shanghai",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function formatDuration(seconds: number, w: Words): string {
  const s = Math.abs(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}${w.days} ${h}${w.hours}`;
  if (h > 0) return `${h}${w.hours} ${m}${w.minutes}`;
  return `${m}${w.minutes}`;
}

const fieldsZh: Record<string, string> = {
  reason: "理由", reply: "答复", text: "内容", public: "企业可见", category: "类别",
  boardId: "板块", departmentId: "部门", grade: "评价", comment: "意见", duplicateId: "重复件 ID",
  toRegion: "交办给", dueAt: "办理时限", level: "协调层级", meetingDate: "会议日期", chair: "主持人",
  decision: "会议决定", kind: "清单类型", note: "备注", outcome: "回访结果", title: "标题", previousId: "原问题 ID",
};
const fieldsEn: Record<string, string> = {
  reason: "Reason", reply: "Reply", text: "Text", public: "Visible to the enterprise", category: "Category",
  boardId: "Board", departmentId: "Department", grade: "Grade", comment: "Comment", duplicateId: "Duplicate's ID",
  toRegion: "Delegate to", dueAt: "Due", level: "Level", meetingDate: "Meeting date", chair: "Chair",
  decision: "Decision", kind: "List", note: "Note", outcome: "Outcome", title: "Title", previousId: "Earlier issue's ID",
};

export function useFieldLabel(): (name: string) => string {
  const fields = useLocale() === "en" ? fieldsEn : fieldsZh;
  return (name) => fields[name] ?? name;
}
