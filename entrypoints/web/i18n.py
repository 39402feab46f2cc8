"""English and Simplified Chinese: the English text is the key, the catalogue translates it."""

from __future__ import annotations

LANGUAGES = ("en", "zh")
LANG_COOKIE = "scheduler_lang"

ZH: dict[str, str] = {
    "Overview": "概览",
    "Tasks": "任务",
    "Task": "任务",
    "Runs": "运行",
    "Run": "运行",
    "Workers": "工作节点",
    "Events": "事件日志",
    "System": "系统",
    "Keys": "API 密钥",
    "Sign in": "登录",
    "Sign out": "退出",
    "API key": "API 密钥",
    "Signed in as": "当前用户",
    "Runs by status": "按状态统计运行",
    "Runs per minute": "每分钟运行数",
    "Recent failures": "最近失败",
    "Workers by status": "按状态统计工作节点",
    "Projections": "投影",
    "Quarantined aggregates": "隔离的聚合",
    "Dispatchers": "调度器",
    "Status": "状态",
    "Name": "名称",
    "Schedule": "调度",
    "Time zone": "时区",
    "Next fire": "下次触发",
    "Last run": "上次运行",
    "Result": "结果",
    "Search": "搜索",
    "Filter": "筛选",
    "all": "全部",
    "Previous": "上一页",
    "Next": "下一页",
    "First": "首页",
    "Last": "末页",
    "Audit chain head": "审计链头",
    "nothing chained yet": "尚未链接",
    "New task": "新建任务",
    "Create": "创建",
    "Save": "保存",
    "Edit": "编辑",
    "Delete": "删除",
    "Pause": "暂停",
    "Resume": "恢复",
    "Trigger": "触发",
    "Trigger now": "立即触发",
    "Parameters (JSON object)": "参数（JSON 对象）",
    "Reason": "原因",
    "Definition": "定义",
    "Next 10 fire times": "接下来 10 次触发时间",
    "History": "历史",
    "Roll back to this version": "回滚到此版本",
    "Changes": "变更",
    "Version": "版本",
    "Actor": "操作者",
    "Type": "类型",
    "Time": "时间",
    "Position": "位置",
    "Aggregate": "聚合",
    "Attempts": "尝试",
    "Attempt": "尝试",
    "Worker": "工作节点",
    "Started": "开始",
    "Finished": "结束",
    "Exit code": "退出码",
    "Output": "输出",
    "Error": "错误",
    "Why": "原因",
    "Cancel run": "取消运行",
    "Capacity": "容量",
    "Running": "运行中",
    "Labels": "标签",
    "Last heartbeat": "上次心跳",
    "Drain": "排空",
    "Lag": "延迟",
    "Audit": "审计",
    "Log head": "日志头位置",
    "Verify": "校验",
    "Role": "角色",
    "Created": "创建时间",
    "Expires": "过期时间",
    "Last used": "上次使用",
    "Description": "描述",
    "Executor": "执行器",
    "Command": "命令",
    "Priority": "优先级",
    "Retries": "重试次数",
    "Timeout (seconds)": "超时（秒）",
    "Queue": "队列",
    "none": "无",
    "Live": "实时",
    "Fix the fields marked below.": "请修正下面标出的字段。",
    "Language": "语言",
    "Duration": "耗时",
    "Requested": "请求时间",
    "Nothing here yet.": "暂无内容。",
    "Compare with the current version": "与当前版本比较",
    "Anonymous loopback access is enabled: you are signed in as an admin.": (
        "已启用本机匿名访问：你以管理员身份登录。"
    ),
}
CATALOGUES = {"en": {}, "zh": ZH}


def translate(language: str, text: str) -> str:
    """The text in a language (the English text when it has no translation)."""
    return CATALOGUES.get(language, {}).get(text, text)


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The chosen language: the cookie the switch sets, else the browser's preference."""
    if cookie in LANGUAGES:
        return cookie
    return "zh" if (accept_language or "").lower().startswith("zh") else "en"
